"""Ports of the orders application: its repositories, its unit of work, and its neighbours.

The checkout's unit of work holds more than the orders' own tables: the saga log, and the
transactional ports the inventory and shipping contexts publish (``StockLedger``,
``ShipmentBook``). They join the same transaction, so a step's local effect — stock
reserved, a shipment created — commits with the saga log's record of it (capabilities §5.3).
Each is still written only by its own context's adapter; bootstrap builds them on the
unit of work's session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bazaar.contexts.inventory import StockLedger
from bazaar.contexts.orders.domain.events import OrdersEvent
from bazaar.contexts.orders.domain.model import Order, OrderStatus
from bazaar.contexts.payments import AuthorizeOrderPayment, Payment, Refund
from bazaar.contexts.shipping import ShipmentBook, ShippingEvent
from bazaar.kernel.domain import DomainEvent, UnitOfWork
from bazaar.kernel.idempotency import Claim, IdempotencyRecords
from bazaar.kernel.money import Money
from bazaar.kernel.saga import SagaLog, SagaRecord

__all__ = [
    "IdGenerator",
    "OrderPage",
    "OrderRepository",
    "OrdersReadModel",
    "OrdersUnitOfWork",
    "PaymentGateway",
    "PriceList",
]

CheckoutEvent = OrdersEvent | ShippingEvent


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class PriceList(Protocol):
    """The catalog, as checkout needs it: today's price of each product on sale."""

    async def prices(self, tenant_id: int, product_ids: Sequence[int]) -> Mapping[int, Money]:
        """Prices of the products that exist and are on sale; the others are left out."""
        ...


class PaymentGateway(Protocol):
    """The payments context's operations the saga uses (``PaymentService`` provides them)."""

    async def authorize_order_payment(self, cmd: AuthorizeOrderPayment) -> Payment: ...

    async def capture_payment(self, tenant_id: int, payment_id: int) -> Payment: ...

    async def void_payment(self, tenant_id: int, payment_id: int) -> Payment: ...

    async def refund_order_payment(
        self, tenant_id: int, payment_id: int, *, operation_key: str
    ) -> Refund: ...

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None: ...

    async def fail_fast(self) -> None:
        """Raise ``DependencyUnavailableError`` at once while the PSP's breaker is open."""
        ...


class OrderRepository(Protocol):
    async def add(self, order: Order) -> None: ...

    async def get(self, tenant_id: int, order_id: int) -> Order | None: ...

    async def update(
        self,
        tenant_id: int,
        order_id: int,
        *,
        status: OrderStatus,
        at: datetime,
        failure_reason: str | None = None,
        payment_id: int | None = None,
        shipment_id: int | None = None,
    ) -> None:
        """Move the order on; ``None`` leaves a field as it is."""
        ...


class OrdersUnitOfWork(UnitOfWork[DomainEvent], Protocol):
    """One transaction over the orders, the saga log, the key records and the participants."""

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def sagas(self) -> SagaLog: ...

    @property
    def stock(self) -> StockLedger: ...

    @property
    def shipments(self) -> ShipmentBook: ...

    @property
    def idempotency(self) -> IdempotencyRecords: ...


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[tuple[Order, SagaRecord | None]]
    next_after: int | None


class OrdersReadModel(Protocol):
    """Reads outside any write transaction (a replica or SQLite's read-only pool)."""

    async def get(
        self, tenant_id: int, order_id: int
    ) -> tuple[Order, SagaRecord | None] | None: ...

    async def page(
        self, tenant_id: int, user_id: int | None, *, before: int | None, limit: int
    ) -> OrderPage:
        """Newest first; ``user_id`` None lists the tenant's. Three statements at most."""
        ...

    async def peek_key(self, scope: str, key: str, fingerprint: str, now: float) -> Claim: ...
