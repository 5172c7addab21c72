"""Orders and the checkout saga (capabilities §5.3): the context's public facade.

Other code uses orders only through these names: ``OrderService`` (place, read, cancel), the
checkout's definition and steps (wired by bootstrap), the order values, events and errors.
"""

from __future__ import annotations

from bazaar.contexts.orders.application.checkout import (
    CHECKOUT,
    CheckoutConfig,
    CheckoutSteps,
    checkout_definition,
)
from bazaar.contexts.orders.application.ports import OrdersUnitOfWork, PriceList
from bazaar.contexts.orders.application.service import OrderDetails, OrderService
from bazaar.contexts.orders.domain.commands import CancelOrder, OrderItem, PlaceOrder, Viewer
from bazaar.contexts.orders.domain.errors import (
    InvalidOrderError,
    OrderNotCancellableError,
    OrderNotFoundError,
    OrdersError,
    ProductUnavailableError,
)
from bazaar.contexts.orders.domain.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderNeedsAttention,
    OrderPlaced,
    OrdersEvent,
)
from bazaar.contexts.orders.domain.model import (
    FailureReason,
    Order,
    OrderLine,
    OrderStatus,
)

__all__ = [
    "CHECKOUT",
    "CancelOrder",
    "CheckoutConfig",
    "CheckoutSteps",
    "FailureReason",
    "InvalidOrderError",
    "Order",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderDetails",
    "OrderItem",
    "OrderLine",
    "OrderNeedsAttention",
    "OrderNotCancellableError",
    "OrderNotFoundError",
    "OrderPlaced",
    "OrderService",
    "OrderStatus",
    "OrdersError",
    "OrdersEvent",
    "OrdersUnitOfWork",
    "PlaceOrder",
    "PriceList",
    "ProductUnavailableError",
    "Viewer",
    "checkout_definition",
]
