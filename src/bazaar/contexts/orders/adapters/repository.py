"""Orders on SQL, and the checkout's unit of work (orders, saga log, stock, shipments, keys)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.inventory import StockLedger
from bazaar.contexts.orders.adapters.tables import idempotency_keys, order_lines, orders, sagas
from bazaar.contexts.orders.domain.model import Order, OrderLine, OrderStatus
from bazaar.contexts.shipping import ShipmentBook
from bazaar.infra.db.unit_of_work import SqlAlchemyUnitOfWork
from bazaar.kernel.clock import Clock
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.idempotency import IdempotencyConfig
from bazaar.kernel.idempotency.sqlalchemy import SqlIdempotencyRecords
from bazaar.kernel.money import Money
from bazaar.kernel.saga.sqlalchemy import SqlSagaLog

__all__ = ["SqlOrderRepository", "SqlOrdersUnitOfWork", "order_from_rows"]


class SqlOrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order) -> None:
        await self._session.execute(
            insert(orders).values(
                id=order.id,
                tenant_id=order.tenant_id,
                user_id=order.user_id,
                status=order.status.value,
                currency=order.total.currency,
                total_minor=order.total.minor_units,
                shipping_address=orjson.dumps(dict(order.shipping_address)).decode(),
                payment_id=order.payment_id,
                shipment_id=order.shipment_id,
                failure_reason=order.failure_reason,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        )
        await self._session.execute(
            insert(order_lines),
            [
                {
                    "order_id": order.id,
                    "line_no": number,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price.minor_units,
                }
                for number, line in enumerate(order.lines, start=1)
            ],
        )

    async def get(self, tenant_id: int, order_id: int) -> Order | None:
        row = (
            await self._session.execute(
                select(orders).where(orders.c.tenant_id == tenant_id, orders.c.id == order_id)
            )
        ).first()
        if row is None:
            return None
        lines = (
            await self._session.execute(
                select(order_lines)
                .where(order_lines.c.order_id == order_id)
                .order_by(order_lines.c.line_no)
            )
        ).all()
        return order_from_rows(row, lines)

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
        values: dict[str, Any] = {"status": status.value, "updated_at": at}
        if failure_reason is not None:
            values["failure_reason"] = failure_reason
        if payment_id is not None:
            values["payment_id"] = payment_id
        if shipment_id is not None:
            values["shipment_id"] = shipment_id
        await self._session.execute(
            update(orders)
            .where(orders.c.tenant_id == tenant_id, orders.c.id == order_id)
            .values(**values)
        )


def order_from_rows(row: Any, lines: Sequence[Any]) -> Order:
    currency = row.currency
    return Order(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        status=OrderStatus(row.status),
        lines=tuple(
            OrderLine(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=Money.from_minor(line.unit_price_minor, currency),
            )
            for line in lines
        ),
        total=Money.from_minor(row.total_minor, currency),
        shipping_address=orjson.loads(row.shipping_address),
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        payment_id=row.payment_id,
        shipment_id=row.shipment_id,
    )


class SqlOrdersUnitOfWork(SqlAlchemyUnitOfWork[DomainEvent]):
    """Unit of Work over the orders, the saga log, the key records, and the participants.

    ``stock`` and ``shipments`` are the inventory and shipping contexts' transactional
    ports, built on this session by factories bootstrap passes in: this module never
    imports their adapters.
    """

    orders: SqlOrderRepository
    sagas: SqlSagaLog
    stock: StockLedger
    shipments: ShipmentBook
    idempotency: SqlIdempotencyRecords

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        stock: Callable[[AsyncSession], StockLedger],
        shipments: Callable[[AsyncSession], ShipmentBook],
        idempotency: IdempotencyConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._stock_factory = stock
        self._shipments_factory = shipments
        self._idempotency_config = idempotency or IdempotencyConfig()

    def _open(self, session: AsyncSession) -> None:
        self.orders = SqlOrderRepository(session)
        self.sagas = SqlSagaLog(session, sagas)
        self.stock = self._stock_factory(session)
        self.shipments = self._shipments_factory(session)
        self.idempotency = SqlIdempotencyRecords(
            session, idempotency_keys, self._idempotency_config
        )
