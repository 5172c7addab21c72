"""Money in request and response bodies (api.md: ``{"amount": "19.99", "currency": "EUR"}``).

One spelling for every context: the amount is a decimal string (a JSON number is a binary
float before it reaches us), the currency an active ISO 4217 code, and an amount no finer
than the currency's minor unit (2 decimals for EUR, none for JPY, 3 for KWD). Contexts
subclass ``MoneyIn`` with their own bounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from bazaar.kernel.money import Money, MoneyError, currency_exponent

__all__ = ["CurrencyCode", "DecimalText", "MoneyIn", "MoneyPublic"]

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
DecimalText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,16}(\.[0-9]{1,8})?$", max_length=25)
]


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

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            currency_exponent(value)
        except MoneyError as exc:
            raise ValueError("is not an ISO 4217 currency code") from exc
        return value

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
