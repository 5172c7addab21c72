"""SQLAlchemy repositories and the unit of work of the payments context.

Every statement on tenant data filters by ``tenant_id`` (capabilities §2.5), except lookups by
an id the PSP issued, which only a signed webhook presents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.payments.adapters.tables import (
    idempotency_keys,
    payments,
    psp_webhook_events,
    refunds,
)
from bazaar.contexts.payments.domain.events import PaymentsEvent
from bazaar.contexts.payments.domain.model import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from bazaar.infra.db import SqlAlchemyUnitOfWork
from bazaar.kernel.clock import Clock
from bazaar.kernel.idempotency import IdempotencyConfig
from bazaar.kernel.idempotency.sqlalchemy import SqlIdempotencyRecords
from bazaar.kernel.money import Money
from bazaar.kernel.sql import insert_for, rowcount

__all__ = [
    "SqlPaymentRepository",
    "SqlPaymentsUnitOfWork",
    "SqlRefundRepository",
    "SqlWebhookEventRepository",
    "payment_from_row",
    "refund_from_row",
]


def payment_from_row(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        amount=Money.from_minor(row.amount_minor, row.currency),
        status=PaymentStatus(row.status),
        psp_authorization_id=row.psp_authorization_id,
        provider_key=row.provider_key,
        decline_code=row.decline_code,
        description=row.description,
        refunded=Money.from_minor(row.refunded_minor, row.currency),
        captured_at=row.captured_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        order_id=row.order_id,
    )


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "tenant_id": payment.tenant_id,
        "user_id": payment.user_id,
        "order_id": payment.order_id,
        "amount_minor": payment.amount.minor_units,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "psp_authorization_id": payment.psp_authorization_id,
        "provider_key": payment.provider_key,
        "decline_code": payment.decline_code,
        "description": payment.description,
        "refunded_minor": payment.refunded.minor_units,
        "captured_at": payment.captured_at,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def refund_from_row(row: Row[Any]) -> Refund:
    return Refund(
        id=row.id,
        tenant_id=row.tenant_id,
        payment_id=row.payment_id,
        user_id=row.user_id,
        amount=Money.from_minor(row.amount_minor, row.currency),
        status=RefundStatus(row.status),
        provider_key=row.provider_key,
        psp_refund_id=row.psp_refund_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlPaymentRepository:
    """Repository pattern over ``payments``; the refunded total changes only conditionally."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, payment: Payment) -> None:
        await self._session.execute(insert(payments).values(**_payment_values(payment)))

    async def add_unless_present(self, payment: Payment) -> bool:
        # ON CONFLICT waits for a concurrent insert of the key to commit or roll back
        # (PostgreSQL; SQLite has one writer), so False means the other one is there to read.
        statement = (
            insert_for(self._session, payments)
            .values(**_payment_values(payment))
            .on_conflict_do_nothing(index_elements=["provider_key"])
        )
        return rowcount(await self._session.execute(statement)) == 1

    async def _one(self, *conditions: Any) -> Payment | None:
        row = (await self._session.execute(select(payments).where(*conditions))).first()
        return None if row is None else payment_from_row(row)

    async def get(self, tenant_id: int, payment_id: int) -> Payment | None:
        return await self._one(payments.c.tenant_id == tenant_id, payments.c.id == payment_id)

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Payment | None:
        return await self._one(
            payments.c.tenant_id == tenant_id, payments.c.provider_key == provider_key
        )

    async def get_by_authorization(self, psp_authorization_id: str) -> Payment | None:
        return await self._one(payments.c.psp_authorization_id == psp_authorization_id)

    async def reserve_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> bool:
        # One statement: PostgreSQL re-checks the WHERE on the row it waited for (READ
        # COMMITTED), SQLite has one writer; either way concurrent refunds cannot overshoot.
        result = await self._session.execute(
            update(payments)
            .where(
                payments.c.tenant_id == tenant_id,
                payments.c.id == payment_id,
                payments.c.status == PaymentStatus.SUCCEEDED.value,
                payments.c.refunded_minor + amount_minor <= payments.c.amount_minor,
            )
            .values(refunded_minor=payments.c.refunded_minor + amount_minor, updated_at=at)
        )
        return rowcount(result) == 1

    async def release_refund(
        self, tenant_id: int, payment_id: int, amount_minor: int, at: datetime
    ) -> None:
        await self._session.execute(
            update(payments)
            .where(payments.c.tenant_id == tenant_id, payments.c.id == payment_id)
            .values(refunded_minor=payments.c.refunded_minor - amount_minor, updated_at=at)
        )

    async def mark_captured(self, payment_id: int, at: datetime) -> bool:
        result = await self._session.execute(
            update(payments)
            .where(payments.c.id == payment_id, payments.c.captured_at.is_(None))
            .values(captured_at=at, updated_at=at)
        )
        return rowcount(result) == 1

    async def record_capture(
        self, tenant_id: int, payment_id: int, captured_at: datetime, at: datetime
    ) -> bool:
        return await self._leave_authorized(
            tenant_id,
            payment_id,
            status=PaymentStatus.SUCCEEDED.value,
            captured_at=captured_at,
            updated_at=at,
        )

    async def record_void(self, tenant_id: int, payment_id: int, at: datetime) -> bool:
        return await self._leave_authorized(
            tenant_id, payment_id, status=PaymentStatus.VOIDED.value, updated_at=at
        )

    async def _leave_authorized(self, tenant_id: int, payment_id: int, **values: Any) -> bool:
        # Conditional on the status, so of two concurrent runs only one changes the row
        # (and raises the event); the other reads what the first recorded.
        result = await self._session.execute(
            update(payments)
            .where(
                payments.c.tenant_id == tenant_id,
                payments.c.id == payment_id,
                payments.c.status == PaymentStatus.AUTHORIZED.value,
            )
            .values(**values)
        )
        return rowcount(result) == 1


class SqlRefundRepository:
    """Repository pattern over ``refunds``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, refund: Refund) -> None:
        await self._session.execute(
            insert(refunds).values(
                id=refund.id,
                tenant_id=refund.tenant_id,
                payment_id=refund.payment_id,
                user_id=refund.user_id,
                amount_minor=refund.amount.minor_units,
                currency=refund.amount.currency,
                status=refund.status.value,
                provider_key=refund.provider_key,
                psp_refund_id=refund.psp_refund_id,
                created_at=refund.created_at,
                updated_at=refund.updated_at,
            )
        )

    async def _one(self, *conditions: Any) -> Refund | None:
        row = (await self._session.execute(select(refunds).where(*conditions))).first()
        return None if row is None else refund_from_row(row)

    async def get_by_provider_key(self, tenant_id: int, provider_key: str) -> Refund | None:
        return await self._one(
            refunds.c.tenant_id == tenant_id, refunds.c.provider_key == provider_key
        )

    async def get_by_psp_refund_id(self, psp_refund_id: str) -> Refund | None:
        return await self._one(refunds.c.psp_refund_id == psp_refund_id)

    async def set_status(
        self,
        tenant_id: int,
        refund_id: int,
        status: RefundStatus,
        at: datetime,
        *,
        psp_refund_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value, "updated_at": at}
        if psp_refund_id is not None:
            values["psp_refund_id"] = psp_refund_id
        await self._session.execute(
            update(refunds)
            .where(refunds.c.tenant_id == tenant_id, refunds.c.id == refund_id)
            .values(**values)
        )

    async def delete(self, tenant_id: int, refund_id: int) -> None:
        await self._session.execute(
            delete(refunds).where(
                refunds.c.tenant_id == tenant_id,
                refunds.c.id == refund_id,
                refunds.c.status == RefundStatus.PENDING.value,
            )
        )

    async def has_pending(self, payment_id: int) -> bool:
        query = select(
            exists().where(
                refunds.c.payment_id == payment_id,
                refunds.c.status == RefundStatus.PENDING.value,
            )
        )
        return bool((await self._session.execute(query)).scalar())


class SqlWebhookEventRepository:
    """Repository pattern over ``psp_webhook_events`` (the inbox of PSP deliveries)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, event_id: str, event_type: str, payload: bytes, at: datetime) -> bool:
        statement = (
            insert_for(self._session, psp_webhook_events)
            .values(id=event_id, type=event_type, payload=payload, received_at=at)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        return rowcount(await self._session.execute(statement)) == 1

    async def set_effect(self, event_id: str, effect: str) -> None:
        await self._session.execute(
            update(psp_webhook_events)
            .where(psp_webhook_events.c.id == event_id)
            .values(effect=effect)
        )


class SqlPaymentsUnitOfWork(SqlAlchemyUnitOfWork[PaymentsEvent]):
    """Unit of Work over the payments repositories and the key records, on one transaction.

    ``events`` keeps the events of committed transactions only: one handler may run several
    (reserve, then finish a refund), and a rolled-back one takes its events with it.
    """

    payments: SqlPaymentRepository
    refunds: SqlRefundRepository
    webhook_events: SqlWebhookEventRepository
    idempotency: SqlIdempotencyRecords

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        idempotency: IdempotencyConfig | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self._idempotency_config = idempotency or IdempotencyConfig()
        self._committed_events = 0

    def _open(self, session: AsyncSession) -> None:
        self._committed_events = len(self.events)
        self.payments = SqlPaymentRepository(session)
        self.refunds = SqlRefundRepository(session)
        self.webhook_events = SqlWebhookEventRepository(session)
        self.idempotency = SqlIdempotencyRecords(
            session, idempotency_keys, self._idempotency_config
        )

    async def commit(self) -> None:
        await super().commit()
        self._committed_events = len(self.events)

    async def rollback(self) -> None:
        await super().rollback()
        del self.events[self._committed_events :]

    async def __aexit__(self, *exc_info: Any) -> None:
        if not self.committed:
            del self.events[self._committed_events :]
        await super().__aexit__(*exc_info)
