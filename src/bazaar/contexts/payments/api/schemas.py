"""Request and response bodies of the payments API: one DTO per use, unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from bazaar.api.money import MoneyIn as SharedMoneyIn
from bazaar.api.money import MoneyPublic

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


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class MoneyIn(SharedMoneyIn):
    """``{"amount": "19.99", "currency": "EUR"}``: positive, at most ``MAX_AMOUNT``, and no
    finer than the currency's minor unit (2 decimals for EUR, none for JPY, 3 for KWD)."""

    allow_zero: ClassVar[bool] = False
    maximum: ClassVar[Decimal] = MAX_AMOUNT


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
