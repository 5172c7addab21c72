"""Errors of the orders context.

BazaarError
└── OrdersError
    ├── OrderNotFoundError(order_id)                 unknown, another tenant's, another customer's
    ├── InvalidOrderError(field, reason)             the order cannot be placed as asked (422)
    │   └── ProductUnavailableError(field, product_id) no such product on sale
    └── OrderNotCancellableError(order_id, status)   shipped, finished, or parked (409)

They reject a request before any effect: the Idempotency-Key is released.
"""

from __future__ import annotations

from bazaar.kernel.errors import BazaarError

__all__ = [
    "InvalidOrderError",
    "OrderNotCancellableError",
    "OrderNotFoundError",
    "OrdersError",
    "ProductUnavailableError",
]


class OrdersError(BazaarError):
    """Raised by the orders context on purpose."""


class OrderNotFoundError(OrdersError):
    """Unknown, or of another tenant, or another customer's: deliberately alike."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"no order {order_id}")
        self.order_id = order_id


class InvalidOrderError(OrdersError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ProductUnavailableError(InvalidOrderError):
    def __init__(self, field: str, product_id: int) -> None:
        super().__init__(field, f"product {product_id} does not exist or is not on sale")
        self.product_id = product_id


class OrderNotCancellableError(OrdersError):
    def __init__(self, order_id: int, status: str) -> None:
        super().__init__(f"order {order_id} is {status} and can no longer be cancelled")
        self.order_id = order_id
        self.status = status
