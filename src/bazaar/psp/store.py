"""SQL of the simulator: authorizations, refunds and idempotency keys over one connection.

Every function takes the caller's ``AsyncConnection`` so the caller decides the transaction:
an effect and its idempotency-key row always commit together. State changes are conditional
``UPDATE … WHERE <rule still holds>`` statements, so they stay correct on an engine that lets
writers interleave (PostgreSQL), not only on SQLite's single writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bazaar.psp.errors import AuthorizationNotFoundError, InvalidStateError, PspError
from bazaar.psp.model import (
    Authorization,
    AuthorizationStatus,
    DeclineCode,
    Refund,
    RefundStatus,
    capture_amount,
    refund_amount,
    void_needed,
)
from bazaar.psp.tables import authorizations, idempotency_keys, metadata, refunds

__all__ = [
    "IdempotencyKeyTakenError",
    "KeyRecord",
    "capture",
    "count_by_status",
    "count_refunds",
    "create_tables",
    "find_key",
    "get_authorization",
    "insert_authorization",
    "insert_key",
    "list_authorizations",
    "refund",
    "refunds_by_authorization",
    "refunds_of",
    "void",
]


class IdempotencyKeyTakenError(PspError):
    """Another transaction recorded this key first (the unique constraint fired)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} is already recorded")
        self.key = key


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A completed request under one Idempotency-Key: what it asked and what it answered."""

    key: str
    fingerprint: str
    operation: str
    path: str
    response_status: int
    response_body: bytes
    authorization_id: str | None
    refund_id: str | None
    created_at: float


async def create_tables(engine: AsyncEngine) -> None:
    """Create the simulator's tables if missing (see ``tables.py`` for why not Alembic)."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def find_key(conn: AsyncConnection, key: str) -> KeyRecord | None:
    row = (
        await conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))
    ).one_or_none()
    if row is None:
        return None
    m = row._mapping
    return KeyRecord(
        key=m["key"],
        fingerprint=m["fingerprint"],
        operation=m["operation"],
        path=m["path"],
        response_status=m["response_status"],
        response_body=bytes(m["response_body"]),
        authorization_id=m["authorization_id"],
        refund_id=m["refund_id"],
        created_at=m["created_at"],
    )


async def insert_key(conn: AsyncConnection, record: KeyRecord) -> None:
    """Record a key; the caller's transaction holds the effect it belongs to.

    Raises:
        IdempotencyKeyTakenError: the key exists (a concurrent writer won); the caller's
            transaction must roll back, taking its effect with it.
    """
    try:
        await conn.execute(
            insert(idempotency_keys).values(
                key=record.key,
                fingerprint=record.fingerprint,
                operation=record.operation,
                path=record.path,
                response_status=record.response_status,
                response_body=record.response_body,
                authorization_id=record.authorization_id,
                refund_id=record.refund_id,
                created_at=record.created_at,
            )
        )
    except IntegrityError as exc:
        raise IdempotencyKeyTakenError(record.key) from exc


async def insert_authorization(conn: AsyncConnection, auth: Authorization) -> None:
    await conn.execute(
        insert(authorizations).values(
            id=auth.id,
            status=auth.status.value,
            amount_minor=auth.amount_minor,
            currency=auth.currency,
            card_token=auth.card_token,
            reference=auth.reference,
            decline_code=auth.decline_code.value if auth.decline_code else None,
            captured_minor=auth.captured_minor,
            refunded_minor=auth.refunded_minor,
            created_at=auth.created_at,
            captured_at=auth.captured_at,
            voided_at=auth.voided_at,
        )
    )


async def get_authorization(conn: AsyncConnection, authorization_id: str) -> Authorization:
    """Raises: AuthorizationNotFoundError."""
    row = (
        await conn.execute(select(authorizations).where(authorizations.c.id == authorization_id))
    ).one_or_none()
    if row is None:
        raise AuthorizationNotFoundError(authorization_id)
    return _authorization(row._mapping)


async def list_authorizations(conn: AsyncConnection, limit: int) -> list[Authorization]:
    """The newest ``limit`` authorizations, newest first."""
    rows = await conn.execute(
        select(authorizations)
        .order_by(authorizations.c.created_at.desc(), authorizations.c.id.desc())
        .limit(limit)
    )
    return [_authorization(row._mapping) for row in rows]


async def refunds_of(conn: AsyncConnection, authorization_id: str) -> list[Refund]:
    return (await refunds_by_authorization(conn, [authorization_id]))[authorization_id]


async def refunds_by_authorization(
    conn: AsyncConnection, authorization_ids: Sequence[str]
) -> dict[str, list[Refund]]:
    """The refunds of several authorizations in one query, oldest first per authorization."""
    found: dict[str, list[Refund]] = {auth_id: [] for auth_id in authorization_ids}
    if not found:
        return found
    rows = await conn.execute(
        select(refunds)
        .where(refunds.c.authorization_id.in_(list(found)))
        .order_by(refunds.c.created_at, refunds.c.id)
    )
    for row in rows:
        m = row._mapping
        found[m["authorization_id"]].append(
            Refund(
                id=m["id"],
                authorization_id=m["authorization_id"],
                amount_minor=m["amount_minor"],
                currency=m["currency"],
                status=RefundStatus(m["status"]),
                created_at=m["created_at"],
            )
        )
    return found


async def capture(
    conn: AsyncConnection, authorization_id: str, requested_minor: int | None, now: float
) -> Authorization:
    """Capture all or part of an authorized amount.

    Raises:
        AuthorizationNotFoundError, InvalidStateError, CaptureExceedsAuthorizedError.
    """
    auth = await get_authorization(conn, authorization_id)
    amount = capture_amount(auth, requested_minor)
    result = await conn.execute(
        update(authorizations)
        .where(
            authorizations.c.id == authorization_id,
            authorizations.c.status == AuthorizationStatus.AUTHORIZED.value,
        )
        .values(status=AuthorizationStatus.CAPTURED.value, captured_minor=amount, captured_at=now)
    )
    if result.rowcount != 1:  # changed since it was read: the rule now says why
        current = await get_authorization(conn, authorization_id)
        capture_amount(current, requested_minor)
        raise InvalidStateError(current.id, current.status, "capture")
    return await get_authorization(conn, authorization_id)


async def void(
    conn: AsyncConnection, authorization_id: str, now: float
) -> tuple[Authorization, bool]:
    """Release an authorization; voiding a voided one changes nothing.

    Returns:
        The authorization after the call, and whether this call voided it.

    Raises:
        AuthorizationNotFoundError, InvalidStateError.
    """
    auth = await get_authorization(conn, authorization_id)
    if not void_needed(auth):
        return auth, False
    result = await conn.execute(
        update(authorizations)
        .where(
            authorizations.c.id == authorization_id,
            authorizations.c.status == AuthorizationStatus.AUTHORIZED.value,
        )
        .values(status=AuthorizationStatus.VOIDED.value, voided_at=now)
    )
    if result.rowcount != 1:
        auth = await get_authorization(conn, authorization_id)
        void_needed(auth)
        return auth, False
    return await get_authorization(conn, authorization_id), True


async def refund(
    conn: AsyncConnection,
    authorization_id: str,
    refund_id: str,
    requested_minor: int | None,
    now: float,
) -> tuple[Authorization, Refund]:
    """Refund part or all of what is left of the captured amount.

    Raises:
        AuthorizationNotFoundError, InvalidStateError, RefundExceedsCapturedError.
    """
    auth = await get_authorization(conn, authorization_id)
    amount = refund_amount(auth, requested_minor)
    refunded = authorizations.c.refunded_minor
    result = await conn.execute(
        update(authorizations)
        .where(
            authorizations.c.id == authorization_id,
            authorizations.c.status == AuthorizationStatus.CAPTURED.value,
            refunded + amount <= authorizations.c.captured_minor,
        )
        .values(refunded_minor=refunded + amount)
    )
    if result.rowcount != 1:  # another refund got there first
        current = await get_authorization(conn, authorization_id)
        refund_amount(current, amount)
        raise InvalidStateError(current.id, current.status, "refund")
    created = Refund(
        id=refund_id,
        authorization_id=authorization_id,
        amount_minor=amount,
        currency=auth.currency,
        status=RefundStatus.SUCCEEDED,
        created_at=now,
    )
    await conn.execute(
        insert(refunds).values(
            id=created.id,
            authorization_id=created.authorization_id,
            amount_minor=created.amount_minor,
            currency=created.currency,
            status=created.status.value,
            created_at=created.created_at,
        )
    )
    return await get_authorization(conn, authorization_id), created


async def count_by_status(conn: AsyncConnection) -> dict[AuthorizationStatus, int]:
    rows = await conn.execute(
        select(authorizations.c.status, func.count()).group_by(authorizations.c.status)
    )
    counts = dict.fromkeys(AuthorizationStatus, 0)
    for status, count in rows:
        counts[AuthorizationStatus(status)] = count
    return counts


async def count_refunds(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(refunds))).scalar_one())


def _authorization(m: Any) -> Authorization:
    return Authorization(
        id=m["id"],
        status=AuthorizationStatus(m["status"]),
        amount_minor=m["amount_minor"],
        currency=m["currency"],
        card_token=m["card_token"],
        reference=m["reference"],
        decline_code=DeclineCode(m["decline_code"]) if m["decline_code"] else None,
        captured_minor=m["captured_minor"],
        refunded_minor=m["refunded_minor"],
        created_at=m["created_at"],
        captured_at=m["captured_at"],
        voided_at=m["voided_at"],
    )
