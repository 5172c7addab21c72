"""Money in request and response bodies (api.md: ``{"amount": "19.99", "currency": "EUR"}``).

One spelling for every context: the amount is a decimal string (a JSON number is a binary
float before it reaches us), the currency an active ISO 4217 code, and an amount no finer
than the currency's minor unit (2 decimals for EUR, none for JPY, 3 for KWD). Contexts
subclass ``MoneyIn`` with their own bounds.

API v2 spells money in integer minor units instead (``MinorMoneyIn``, ``MinorMoneyPublic``:
``{"amount_minor": 1999, "currency": "EUR", "exponent": 2}``); docs/api-versioning.md says why.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from bazaar.kernel.money import Money, MoneyError, currency_exponent

__all__ = [
    "CurrencyCode",
    "DecimalText",
    "MinorMoneyIn",
    "MinorMoneyPublic",
    "MoneyIn",
    "MoneyPublic",
]

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
DecimalText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,16}(\.[0-9]{1,8})?$", max_length=25)
]


def _known_currency_code(value: str) -> str:
    try:
        currency_exponent(value)
    except MoneyError as exc:
        raise ValueError("is not an ISO 4217 currency code") from exc
    return value


class MoneyIn(BaseModel):
    """An amount of money sent by a client, between ``minimum`` and ``maximum``.

    Subclasses set the bounds: ``allow_zero`` (a price may be 0; a payment may not) and
    ``maximum`` in major units. The amount comes back normalized ("19.9" → "19.90"), so equal
    amounts fingerprint as equal requests.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_zero: ClassVar[bool] = False
    maximum: ClassVar[Decimal] = Decimal(1_000_000)

    # Declared first so the amount's check can see it (fields validate in this order).
    currency: CurrencyCode
    amount: DecimalText = Field(examples=["19.99"])

    _known_currency = field_validator("currency")(_known_currency_code)

    @field_validator("amount")
    @classmethod
    def _fits_the_currency(cls, value: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if currency is None:  # already refused; say nothing twice
            return value
        try:
            money = Money.of(value, currency)
        except MoneyError as exc:
            places = currency_exponent(currency)
            raise ValueError(f"{currency} amounts have at most {places} decimal places") from exc
        if not cls.allow_zero and not money.is_positive():
            raise ValueError("must be greater than 0")
        if money.amount > cls.maximum:
            raise ValueError(f"must be at most {cls.maximum}")
        return money.to_json()["amount"]

    def money(self) -> Money:
        return Money.of(self.amount, self.currency)


class MoneyPublic(BaseModel):
    """An amount of money in a response."""

    model_config = ConfigDict(frozen=True)

    amount: str = Field(description="A decimal string, never a JSON number.", examples=["19.99"])
    currency: str

    @classmethod
    def of(cls, money: Money) -> MoneyPublic:
        return cls(**money.to_json())


class MinorMoneyIn(BaseModel):
    """An amount of money sent by a v2 client, in integer minor units of its currency.

    ``amount_minor`` must be a JSON integer (``1999``, never ``"1999"`` or ``19.99``).
    ``exponent`` may be sent as a check: when present it must be the currency's ISO 4217
    exponent, so a client whose currency table disagrees with ours (ISK has 0 decimals in
    ISO 4217, 2 in some older tables) is refused instead of charging 100 times the price.
    Subclasses set the bounds as for ``MoneyIn`` (``maximum`` in major units).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_zero: ClassVar[bool] = False
    maximum: ClassVar[Decimal] = Decimal(1_000_000)

    # Declared first so the other fields' checks can see it (fields validate in this order).
    currency: CurrencyCode
    amount_minor: StrictInt = Field(examples=[1999])
    exponent: StrictInt | None = Field(
        default=None, description="Optional; if sent, must be the currency's minor-unit exponent."
    )

    _known_currency = field_validator("currency")(_known_currency_code)

    @field_validator("amount_minor")
    @classmethod
    def _within_bounds(cls, value: int, info: ValidationInfo) -> int:
        currency = info.data.get("currency")
        if currency is None:  # already refused; say nothing twice
            return value
        if value < 0 or (value == 0 and not cls.allow_zero):
            raise ValueError("must be at least 0" if cls.allow_zero else "must be greater than 0")
        exponent = currency_exponent(currency)
        largest = int(cls.maximum.scaleb(exponent))
        if value > largest:
            raise ValueError(f"must be at most {largest} ({cls.maximum} {currency})")
        return value

    @field_validator("exponent")
    @classmethod
    def _matches_the_currency(cls, value: int | None, info: ValidationInfo) -> int | None:
        currency = info.data.get("currency")
        if value is None or currency is None:
            return value
        exponent = currency_exponent(currency)
        if value != exponent:
            raise ValueError(f"{currency} has exponent {exponent} ({exponent} decimal places)")
        return value

    def money(self) -> Money:
        return Money.from_minor(self.amount_minor, self.currency)


class MinorMoneyPublic(BaseModel):
    """An amount of money in a v2 response: ``amount_minor / 10**exponent`` of ``currency``."""

    model_config = ConfigDict(frozen=True)

    amount_minor: int = Field(
        description="An integer count of the currency's minor unit (cents for EUR).",
        examples=[1999],
    )
    currency: str = Field(examples=["EUR"])
    exponent: int = Field(
        description="ISO 4217 minor-unit exponent: 2 for EUR, 0 for JPY, 3 for KWD.",
        examples=[2],
    )

    @classmethod
    def of(cls, money: Money) -> MinorMoneyPublic:
        return cls(amount_minor=money.minor_units, currency=money.currency, exponent=money.exponent)
