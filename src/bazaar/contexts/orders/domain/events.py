"""Events of the orders context (past tense, frozen, versioned, no card data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.money import Money

__all__ = ["OrderCancelled", "OrderConfirmed", "OrderNeedsAttention", "OrderPlaced", "OrdersEvent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrdersEvent(DomainEvent):
    """Base of every orders event: each is about one order, and ordered per order."""

    order_id: int
    user_id: int

    @property
    def partition_key(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(OrdersEvent):
    type: ClassVar[str] = "orders.order_placed"
    total: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConfirmed(OrdersEvent):
    """The checkout completed: the customer is told (notifications) and webhooks fire."""

    type: ClassVar[str] = "orders.order_confirmed"
    total: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(OrdersEvent):
    type: ClassVar[str] = "orders.order_cancelled"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderNeedsAttention(OrdersEvent):
    type: ClassVar[str] = "orders.order_needs_attention"
    reason: str
