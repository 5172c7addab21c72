"""Commands of the orders context (imperative, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.contexts.orders.domain.model import ShippingAddress

__all__ = ["CancelOrder", "OrderItem", "PlaceOrder", "Viewer"]


@dataclass(frozen=True, slots=True)
class OrderItem:
    product_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    tenant_id: int
    user_id: int
    items: tuple[OrderItem, ...]
    card_token: str = field(repr=False)
    shipping_address: ShippingAddress = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads: a customer sees their own orders; ``whole_tenant`` sees the tenant's."""

    tenant_id: int
    user_id: int
    whole_tenant: bool


@dataclass(frozen=True, slots=True)
class CancelOrder:
    viewer: Viewer
    order_id: int
