"""The order: what a customer bought, for how much, and where its checkout stands.

Its status follows the checkout saga (api.md "Orders")::

    pending ──reserved──► reserved ──captured──► paid ──shipment──► fulfilling ──► completed
       └───────────────── any failure or a cancel, once compensated ──► cancelled (failure_reason)
                          a compensation that cannot finish ─────────► needs_attention
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bazaar.kernel.money import Money

__all__ = [
    "CANCELLABLE",
    "FailureReason",
    "Order",
    "OrderLine",
    "OrderStatus",
    "ShippingAddress",
]


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    PAID = "paid"
    FULFILLING = "fulfilling"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


# "Owner before shipment" (api.md): once a shipment exists the parcel may be on its way.
CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.RESERVED, OrderStatus.PAID})


class FailureReason(enum.StrEnum):
    """Why an order was cancelled (the saga's ``failure_reason``)."""

    OUT_OF_STOCK = "out_of_stock"
    INVENTORY_UNAVAILABLE = "inventory_unavailable"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_UNAVAILABLE = "payment_unavailable"
    PAYMENT_FAILED = "payment_failed"
    SHIPPING_UNAVAILABLE = "shipping_unavailable"
    RESERVATION_EXPIRED = "reservation_expired"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"


ShippingAddress = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: int
    quantity: int
    unit_price: Money

    @property
    def amount(self) -> Money:
        return Money.from_minor(
            self.unit_price.minor_units * self.quantity, self.unit_price.currency
        )


@dataclass(frozen=True, slots=True)
class Order:
    """One checkout of one customer (the card token lives in its saga's data only)."""

    id: int
    tenant_id: int
    user_id: int
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    total: Money
    shipping_address: ShippingAddress
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    payment_id: int | None = None
    shipment_id: int | None = None

    @staticmethod
    def total_of(lines: tuple[OrderLine, ...]) -> Money:
        total = Money.zero(lines[0].unit_price.currency)
        for line in lines:
            total = total + line.amount
        return total
