"""Count the SQL statements a block of code sends: the N+1 guard of capabilities §7.3.

    with count_statements(database.engine, database.read_engine) as counter:
        await client.get("/api/v1/products?limit=100")
    assert counter.count == expected

It listens to SQLAlchemy's ``before_cursor_execute`` on each engine's sync engine, so it
sees every statement the driver is handed (``BEGIN IMMEDIATE`` included; executemany
counts once), from every session and connection of those engines, and nothing else. A
list whose statement count grows with its page size loads something per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["StatementCounter", "count_statements"]


@dataclass(slots=True)
class StatementCounter:
    """The statements seen so far, in order (SQL text as sent to the driver)."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def matching(self, fragment: str) -> list[str]:
        """The statements whose text contains ``fragment`` (case-insensitive)."""
        needle = fragment.lower()
        return [s for s in self.statements if needle in s.lower()]

    def clear(self) -> None:
        self.statements.clear()


@contextmanager
def count_statements(*engines: AsyncEngine | Engine) -> Iterator[StatementCounter]:
    """Record every statement ``engines`` execute inside the block.

    Pass the same engine twice and it is still counted once (SQLite's ``Database`` has a
    writer and a reader engine; on PostgreSQL both are one).
    """
    if not engines:
        raise ValueError("count_statements needs at least one engine")
    counter = StatementCounter()

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        counter.statements.append(statement)

    targets: list[Engine] = []
    for engine in engines:
        sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        if sync not in targets:
            targets.append(sync)
    for target in targets:
        event.listen(target, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", record)
