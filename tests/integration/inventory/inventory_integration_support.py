"""Helpers of the inventory integration tests: a checkout's step in a transaction of its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bazaar.contexts.inventory import (
    DEFAULT_RESERVATION_TTL,
    OutOfStockError,
    Reservation,
    ReservationLine,
    ReservationNotHeldError,
)
from bazaar.contexts.inventory.adapters import SqlStockLedger
from bazaar.contexts.inventory.adapters.tables import (
    stock_reservation_lines,
    stock_reservations,
)
from bazaar.infra.db import Database

__all__ = [
    "commit_alone",
    "held_units",
    "new_id",
    "release_alone",
    "reserve_alone",
]


def new_id() -> int:
    """A tenant or reservation id no other test uses (the PostgreSQL database is shared)."""
    return uuid.uuid4().int >> 66


async def reserve_alone(
    database: Database,
    tenant_id: int,
    lines: Sequence[ReservationLine],
    now: datetime,
    *,
    reservation_id: int | None = None,
    ttl: timedelta = DEFAULT_RESERVATION_TTL,
) -> Reservation | None:
    """Reserve in a session and transaction of its own, as a saga step would; None when out
    of stock (the transaction rolled back)."""
    try:
        async with database.sessions() as session, session.begin():
            return await SqlStockLedger(session).reserve(
                tenant_id,
                reservation_id or new_id(),
                lines,
                expires_at=now + ttl,
                now=now,
            )
    except OutOfStockError:
        return None


async def release_alone(
    database: Database, tenant_id: int, reservation_id: int, now: datetime
) -> bool:
    async with database.sessions() as session, session.begin():
        return await SqlStockLedger(session).release(tenant_id, reservation_id, now=now)


async def commit_alone(
    database: Database, tenant_id: int, reservation_id: int, now: datetime
) -> bool:
    """True when this commit sold the units; False when the reservation was no longer held."""
    try:
        async with database.sessions() as session, session.begin():
            await SqlStockLedger(session).commit(tenant_id, reservation_id, now=now)
    except ReservationNotHeldError:
        return False
    return True


async def held_units(database: Database, tenant_id: int, product_id: int) -> int:
    """The units the tenant's held reservations hold of ``product_id``, summed from their lines."""
    r, lines = stock_reservations, stock_reservation_lines
    query = (
        select(func.coalesce(func.sum(lines.c.quantity), 0))
        .select_from(lines.join(r, r.c.id == lines.c.reservation_id))
        .where(r.c.tenant_id == tenant_id, r.c.status == "held", lines.c.product_id == product_id)
    )
    async with database.read_sessions() as session:
        return int((await session.execute(query)).scalar_one())
