"""Request and response bodies of the orders API (api.md "Orders"): unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bazaar.api.money import MoneyPublic
from bazaar.kernel.ids import MAX_SNOWFLAKE_ID
from bazaar.kernel.saga import SagaRecord

__all__ = [
    "OrderCreate",
    "OrderItemIn",
    "OrderLinePublic",
    "OrderPage",
    "OrderPublic",
    "PaymentIn",
    "SagaPublic",
    "SagaStepPublic",
    "ShippingAddressIn",
]

IdText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
Line = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class OrderItemIn(_Request):
    product_id: IdText | Annotated[int, Field(ge=1, le=MAX_SNOWFLAKE_ID)] = Field(
        description="The product's id (a decimal string; a JSON integer is accepted too)."
    )
    quantity: int = Field(ge=1, le=100)

    def product(self) -> int:
        return int(self.product_id)


class PaymentIn(_Request):
    card_token: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        examples=["tok_ok"]
    )


class ShippingAddressIn(_Request):
    name: Line
    line1: Line
    line2: Line | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    postal_code: Annotated[
        str, StringConstraints(min_length=1, max_length=20, strip_whitespace=True)
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2.", examples=["DE"]
    )


class OrderCreate(_Request):
    items: list[OrderItemIn] = Field(min_length=1, max_length=50)
    payment: PaymentIn
    shipping_address: ShippingAddressIn


class OrderLinePublic(_Response):
    product_id: str
    quantity: int
    unit_price: MoneyPublic


class SagaStepPublic(_Response):
    name: str
    status: Literal[
        "pending", "running", "succeeded", "failed", "compensating", "compensated", "skipped"
    ]
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class SagaPublic(_Response):
    id: str
    state: Literal["running", "compensating", "completed", "compensated", "needs_attention"]
    steps: list[SagaStepPublic]
    attention_reason: str | None = None

    @classmethod
    def of(cls, saga: SagaRecord) -> SagaPublic:
        return cls(
            id=str(saga.id),
            state=saga.state.value,
            attention_reason=saga.attention_reason,
            steps=[
                SagaStepPublic(
                    name=step.name,
                    status=step.status.value,
                    attempts=step.attempts,
                    started_at=step.started_at,
                    finished_at=step.finished_at,
                    error=step.error,
                )
                for step in saga.steps
            ],
        )


class OrderPublic(_Response):
    id: str
    status: Literal[
        "pending", "reserved", "paid", "fulfilling", "completed", "cancelled", "needs_attention"
    ]
    items: list[OrderLinePublic]
    total: MoneyPublic
    shipping_address: dict[str, str]
    failure_reason: str | None
    payment_id: str | None
    shipment_id: str | None
    created_at: datetime
    updated_at: datetime
    saga: SagaPublic | None


class OrderPage(_Response):
    items: list[OrderPublic]
    next_cursor: str | None
