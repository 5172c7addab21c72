"""Request and response bodies of the payments API: one DTO per use, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from bazaar.kernel.money import Money, MoneyError, currency_exponent

__all__ = [
    "MAX_AMOUNT",
    "MoneyIn",
    "MoneyPublic",
    "PaymentCreate",
    "PaymentDetailsPublic",
    "PaymentPublic",
    "RefundCreate",
    "RefundPublic",
    "WebhookAccepted",
]

# The largest payment or refund, in major units of its currency.
MAX_AMOUNT = Decimal(1_000_000)

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# Strings only: a JSON number such as 19.99 is a binary float before it reaches us.
DecimalText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,16}(\.[0-9]{1,8})?$", max_length=25)
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class MoneyIn(_Request):
    """``{"amount": "19.99", "currency": "EUR"}``: positive, at most ``MAX_AMOUNT``, and no
    finer than the currency's minor unit (2 decimals for EUR, none for JPY, 3 for KWD)."""

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
        if not money.is_positive():
            raise ValueError("must be greater than 0")
        if money.amount > MAX_AMOUNT:
            raise ValueError(f"must be at most {MAX_AMOUNT}")
        # Normalized ("19.9" → "19.90"), so equal amounts fingerprint as equal requests.
        return money.to_json()["amount"]

    def money(self) -> Money:
        return Money.of(self.amount, self.currency)


class MoneyPublic(_Response):
    amount: str = Field(description="A decimal string, never a JSON number.", examples=["19.99"])
    currency: str

    @classmethod
    def of(cls, money: Money) -> MoneyPublic:
        return cls(**money.to_json())


class PaymentCreate(_Request):
    amount: MoneyIn
    card_token: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class RefundCreate(_Request):
    amount: MoneyIn | None = Field(
        default=None, description="Defaults to everything not yet refunded."
    )


class PaymentPublic(_Response):
    id: str
    status: Literal["succeeded", "declined", "authorized", "voided"] = Field(
        description="POST /payments answers succeeded (captured) or declined; a checkout's "
        "payment is authorized first, then succeeded or voided."
    )
    amount: MoneyPublic
    refunded_amount: MoneyPublic
    psp_reference: str = Field(description="The PSP's authorization id.")
    decline_code: str | None
    description: str | None
    captured_at: datetime | None
    created_at: datetime


class RefundPublic(_Response):
    id: str
    payment_id: str
    amount: MoneyPublic
    status: Literal["pending", "succeeded", "failed"]
    created_at: datetime


class PaymentDetailsPublic(PaymentPublic):
    refunds: list[RefundPublic]


class WebhookAccepted(_Response):
    id: str
    duplicate: bool = Field(description="True when this event id was received before.")
