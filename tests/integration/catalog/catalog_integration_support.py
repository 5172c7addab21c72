"""Helpers for catalog tests on real engines: bulk rows, cleanup, plans."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, text

from bazaar.contexts.catalog.adapters.tables import product_reviews, products
from bazaar.contexts.inventory.adapters.tables import stock
from bazaar.infra.db import Database

__all__ = [
    "CATEGORIES",
    "analyze",
    "bulk_products",
    "explain",
    "forget_tenants",
    "product_rows",
]

CATEGORIES = [f"category-{n}" for n in range(20)]
WORDS = ["lamp", "chair", "table", "mug", "shelf", "rug", "kettle", "pan", "vase", "clock"]


async def forget_tenants(database: Database, tenants: Sequence[int]) -> None:
    """Delete the tenants' catalog and stock rows: the PostgreSQL database outlives each test."""
    if not tenants:
        return
    async with database.sessions() as session, session.begin():
        await session.execute(
            delete(product_reviews).where(product_reviews.c.tenant_id.in_(tenants))
        )
        await session.execute(delete(products).where(products.c.tenant_id.in_(tenants)))
        await session.execute(delete(stock).where(stock.c.tenant_id.in_(tenants)))


def product_rows(
    tenant_id: int, count: int, *, first_id: int, rng: random.Random, rare_word: str | None = None
) -> list[dict[str, Any]]:
    """``count`` realistic rows: 20 categories, prices 1..500, ~85 % active, a few words each."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        cents = rng.randrange(100, 50_000)
        words = rng.sample(WORDS, 2)
        name = f"{words[0].title()} {words[1]} {n}"
        if rare_word is not None and n % 1000 == 7:
            name += f" {rare_word}"
        roll = rng.random()
        status = "active" if roll < 0.85 else "draft" if roll < 0.95 else "archived"
        rows.append(
            {
                "id": first_id + n,
                "tenant_id": tenant_id,
                "name": name,
                "description": f"A {words[0]} with a {words[1]}, item {n}.",
                "price_minor": cents,
                "currency": "EUR",
                "price_micros": cents * 10_000,
                "category": rng.choice(CATEGORIES),
                "attributes": orjson.dumps({"n": n}).decode(),
                "status": status,
                "version": 1,
                "created_at": start + timedelta(seconds=n),
                "updated_at": start + timedelta(seconds=n),
            }
        )
    return rows


async def bulk_products(database: Database, rows: list[dict[str, Any]]) -> None:
    """Insert rows in batches (executemany), bypassing the service: realistic volume, fast."""
    async with database.sessions() as session, session.begin():
        for start in range(0, len(rows), 2000):
            await session.execute(insert(products), rows[start : start + 2000])


async def analyze(database: Database) -> None:
    """Planner statistics as a live database keeps them (autovacuum; ``PRAGMA optimize``).

    On PostgreSQL that is VACUUM ANALYZE: besides statistics, vacuum moves the rows that a
    bulk insert parked in the GIN index's pending list into the index proper, as autovacuum
    does minutes after any load (https://www.postgresql.org/docs/current/gin.html#GIN-FAST-UPDATE).
    """
    if database.dialect == "postgresql":
        async with database.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE products"))
        return
    async with database.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


async def explain(database: Database, statement: Any) -> str:
    """The engine's plan for ``statement`` (a SQLAlchemy statement), as one text."""
    async with database.read_engine.connect() as conn:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        prefix = "EXPLAIN" if database.dialect == "postgresql" else "EXPLAIN QUERY PLAN"
        sql = f"{prefix} {compiled}"
        result = await conn.exec_driver_sql(sql, _driver_params(compiled))
        rows = result.all()
    if database.dialect == "postgresql":
        return "\n".join(str(row[0]) for row in rows)
    return "\n".join(str(row[-1]) for row in rows)


def _driver_params(compiled: Any) -> tuple[Any, ...]:
    # Both drivers take positional parameters here (qmark, numeric_dollar); each value goes
    # through its type's bind processing (UtcDateTime, then the dialect's own), as execute would.
    params = compiled.construct_params()
    processors = compiled._bind_processors
    return tuple(
        processors[name](params[name]) if name in processors else params[name]
        for name in compiled.positiontup
    )
