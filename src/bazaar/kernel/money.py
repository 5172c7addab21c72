"""Money: an exact decimal amount in one ISO 4217 currency, at that currency's minor unit.

    KernelError                     (bazaar.kernel.errors)
    └── MoneyError
        ├── UnknownCurrencyError    not an active ISO 4217 code with a minor unit
        ├── CurrencyMismatchError   arithmetic or comparison across two currencies
        └── InvalidAmountError      not finite, a float, too large, or finer than the minor unit

Amounts are ``Decimal``s quantized to the currency's exponent (``19.9 EUR`` is stored as
``19.90``); nothing here ever goes through a binary float. The constructor refuses an
amount that quantizing would change (``0.005 EUR``); ``Money.rounded`` rounds on purpose
(half to even, the IEEE 754 default, which does not drift upwards over many roundings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from types import MappingProxyType
from typing import Any

from bazaar.kernel.errors import KernelError

__all__ = [
    "CURRENCY_EXPONENTS",
    "CurrencyMismatchError",
    "InvalidAmountError",
    "Money",
    "MoneyError",
    "UnknownCurrencyError",
    "currency_exponent",
]

# Active ISO 4217 codes by minor-unit exponent (ISO 4217 list one, 2024; funds codes with
# an exponent included, precious metals and "N.A." codes excluded). Most currencies use 2.
_CODES_BY_EXPONENT = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: (
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD "
        "BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP "
        "ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR "
        "JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU "
        "MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR "
        "RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB "
        "TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW "
        "ZWG ZWL"
    ),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {code: exp for exp, codes in _CODES_BY_EXPONENT.items() for code in codes.split()}
)

# 34 digits (IEEE 754 decimal128) hold any amount a payment system meets. The strict context
# traps Inexact, so a sum or a quantize that would have to round raises instead.
_DIGITS = 34
_STRICT = Context(
    prec=_DIGITS,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, Inexact, Overflow, DivisionByZero],
)
_ROUNDING = Context(prec=_DIGITS, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, Overflow])


class MoneyError(KernelError):
    """Raised by ``Money``."""


class UnknownCurrencyError(MoneyError):
    def __init__(self, currency: str) -> None:
        super().__init__(f"{currency!r} is not an ISO 4217 currency code")
        self.currency = currency


class CurrencyMismatchError(MoneyError):
    def __init__(self, left: str, right: str, operation: str) -> None:
        super().__init__(f"cannot {operation} {left} and {right}")
        self.left = left
        self.right = right
        self.operation = operation


class InvalidAmountError(MoneyError):
    def __init__(self, amount: str, reason: str) -> None:
        super().__init__(f"invalid amount {amount!r}: {reason}")
        self.amount = amount
        self.reason = reason


def currency_exponent(currency: str) -> int:
    """The number of decimal places of ``currency``'s minor unit (2 for EUR, 0 for JPY).

    Raises:
        UnknownCurrencyError: not an active ISO 4217 code (codes are upper case).
    """
    exponent = CURRENCY_EXPONENTS.get(currency) if isinstance(currency, str) else None
    if exponent is None:
        raise UnknownCurrencyError(str(currency))
    return exponent


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def _finite_decimal(amount: object) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        # A float has already lost the cents: 0.1 is 0.1000000000000000055511151231257827.
        raise InvalidAmountError(repr(amount), "must be a Decimal or an int, never a float")
    value = Decimal(amount)
    if not value.is_finite():
        raise InvalidAmountError(str(value), "must be finite")
    return value


def _quantize(value: Decimal, currency: str, context: Context) -> Decimal:
    try:
        quantized = value.quantize(_quantum(currency), context=context)
    except Inexact as exc:
        places = currency_exponent(currency)
        raise InvalidAmountError(
            str(value), f"{currency} has {places} decimal place(s); this would need rounding"
        ) from exc
    except (InvalidOperation, Overflow) as exc:
        raise InvalidAmountError(str(value), f"more than {_DIGITS} digits") from exc
    # -0.00 and 0.00 are equal; only one of them should ever be written out.
    return quantized.copy_abs() if quantized.is_zero() else quantized


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency (value object); ``amount`` is quantized to its minor unit.

    Arithmetic and ordering work within one currency only; across currencies they raise
    ``CurrencyMismatchError`` (equality just answers False, as for any other values).

    Raises:
        UnknownCurrencyError, InvalidAmountError: on construction.
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        value = _finite_decimal(self.amount)
        object.__setattr__(self, "amount", _quantize(value, self.currency, _STRICT))

    # --- construction ---

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Exact money from a Decimal, an int or a decimal string (``"19.99"``).

        Raises:
            UnknownCurrencyError, InvalidAmountError.
        """
        if isinstance(amount, str):
            try:
                return cls(Decimal(amount.strip()), currency)
            except InvalidOperation as exc:
                raise InvalidAmountError(amount, "not a decimal number") from exc
        return cls(_finite_decimal(amount), currency)

    @classmethod
    def rounded(cls, amount: Decimal | int, currency: str) -> Money:
        """``amount`` rounded half-to-even to the currency's minor unit (0.005 EUR → 0.00).

        Raises:
            UnknownCurrencyError, InvalidAmountError.
        """
        value = _finite_decimal(amount)
        return cls(_quantize(value, currency, _ROUNDING), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """Money from an integer count of minor units (``1999`` EUR cents → 19.99 EUR)."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidAmountError(repr(units), "minor units are an int")
        return cls(Decimal(units).scaleb(-currency_exponent(currency)), currency)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Money:
        """The inverse of ``to_json``; the amount must be a string.

        Raises:
            UnknownCurrencyError, InvalidAmountError.
        """
        amount = data.get("amount")
        if not isinstance(amount, str):
            raise InvalidAmountError(repr(amount), 'must be a decimal string such as "19.99"')
        return cls.of(amount, str(data.get("currency")))

    # --- views ---

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    @property
    def minor_units(self) -> int:
        """The amount as an integer count of minor units (19.99 EUR → 1999)."""
        return int(self.amount.scaleb(self.exponent, context=_STRICT))

    def is_zero(self) -> bool:
        return self.amount.is_zero()

    def is_positive(self) -> bool:
        return self.amount > 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def to_json(self) -> dict[str, str]:
        """``{"amount": "19.99", "currency": "EUR"}``: the amount as a string, never a float."""
        return {"amount": format(self.amount, "f"), "currency": self.currency}

    def __str__(self) -> str:
        return f"{format(self.amount, 'f')} {self.currency}"

    # --- arithmetic within one currency ---

    def _same_currency(self, other: Money, operation: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency, operation)

    def _exact(self, value: Decimal) -> Money:
        return Money(value, self.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return self._exact(_checked(_STRICT.add, self.amount, other.amount))

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return self._exact(_checked(_STRICT.subtract, self.amount, other.amount))

    def __neg__(self) -> Money:
        return self._exact(-self.amount)

    def __abs__(self) -> Money:
        return self._exact(abs(self.amount))

    def _compare(self, other: object, operation: str) -> int:
        if not isinstance(other, Money):
            raise TypeError(f"cannot compare Money with {type(other).__name__}")
        self._same_currency(other, operation)
        return (self.amount > other.amount) - (self.amount < other.amount)

    def __lt__(self, other: object) -> bool:
        return self._compare(other, "compare") < 0

    def __le__(self, other: object) -> bool:
        return self._compare(other, "compare") <= 0

    def __gt__(self, other: object) -> bool:
        return self._compare(other, "compare") > 0

    def __ge__(self, other: object) -> bool:
        return self._compare(other, "compare") >= 0


def _checked(operation: Any, left: Decimal, right: Decimal) -> Decimal:
    try:
        result: Decimal = operation(left, right)
    except (Inexact, InvalidOperation, Overflow) as exc:
        raise InvalidAmountError(f"{left} and {right}", f"more than {_DIGITS} digits") from exc
    return result
