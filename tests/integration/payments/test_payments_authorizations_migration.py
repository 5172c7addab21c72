"""Migration 0007 on a database holding payments and refunds: rows kept, statuses widened.

SQLite rebuilds ``payments`` to change its CHECK, while ``refunds`` references it with
foreign keys on; these tests hold a refund row across the rebuild to prove that works.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from bazaar.contexts.payments.adapters.tables import payments, refunds
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import alembic_config, current_revision, upgrade

BEFORE, REVISION = "0006_catalog", "0007_payments_authorizations"
AT = datetime(2030, 1, 1, tzinfo=UTC)
_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of its own, not migrated (these tests migrate it themselves)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"bazaar_payments_0007_{os.getpid()}_{next(_names)}")
    database = create_database(url)
    try:
        yield database
    finally:
        await database.dispose()


async def downgrade(database: Database, revision: str) -> None:
    def run(connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with database.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


def payment_row(payment_id: int, status: str, **extra: object) -> dict[str, object]:
    return {
        "id": payment_id,
        "tenant_id": 1,
        "user_id": 2,
        "amount_minor": 5000,
        "currency": "EUR",
        "status": status,
        "psp_authorization_id": f"auth_{payment_id}",
        "provider_key": f"key_{payment_id}",
        "refunded_minor": 0,
        "created_at": AT,
        "updated_at": AT,
        **extra,
    }


def refund_row(refund_id: int, *, payment_id: int) -> dict[str, object]:
    return {
        "id": refund_id,
        "tenant_id": 1,
        "payment_id": payment_id,
        "user_id": None,
        "amount_minor": 1000,
        "currency": "EUR",
        "status": "succeeded",
        "provider_key": f"refund_key_{refund_id}",
        "psp_refund_id": f"re_{refund_id}",
        "created_at": AT,
        "updated_at": AT,
    }


class TestAuthorizationsMigration:
    async def test_keeps_payments_and_refunds_and_admits_the_new_statuses(
        self, empty_database: Database
    ) -> None:
        engine = empty_database.engine
        await upgrade(engine, BEFORE)
        old = payment_row(1, "succeeded", refunded_minor=1000)
        async with engine.begin() as conn:
            # Spelled out: the table object has order_id, which 0006's table does not.
            columns = ", ".join(old)
            values = ", ".join(f":{name}" for name in old)
            await conn.execute(text(f"INSERT INTO payments ({columns}) VALUES ({values})"), old)
            await conn.execute(insert(refunds).values(refund_row(10, payment_id=1)))

        await upgrade(engine, REVISION)

        assert await current_revision(engine) == REVISION
        async with engine.begin() as conn:
            kept = (await conn.execute(select(payments))).one()
            assert (kept.id, kept.status, kept.refunded_minor, kept.order_id) == (
                1,
                "succeeded",
                1000,
                None,
            )
            assert (await conn.execute(select(refunds.c.payment_id))).scalar_one() == 1
            await conn.execute(insert(payments).values(payment_row(2, "authorized", order_id=77)))
            await conn.execute(update(payments).where(payments.c.id == 2).values(status="voided"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(payments).values(payment_row(3, "pending")))
        with pytest.raises(IntegrityError):  # the reference survived SQLite's rebuild
            async with engine.begin() as conn:
                await conn.execute(insert(refunds).values(refund_row(11, payment_id=999)))

    async def test_downgrades_when_no_payment_uses_the_new_statuses(
        self, empty_database: Database
    ) -> None:
        engine = empty_database.engine
        await upgrade(engine, REVISION)
        async with engine.begin() as conn:
            await conn.execute(insert(payments).values(payment_row(1, "succeeded")))
        await downgrade(empty_database, BEFORE)
        assert await current_revision(engine) == BEFORE
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE payments SET status = 'authorized' WHERE id = 1"))
        await upgrade(engine, REVISION)
        async with engine.begin() as conn:
            assert (await conn.execute(select(payments.c.status))).scalar_one() == "succeeded"
