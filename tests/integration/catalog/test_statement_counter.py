"""``count_statements``: the N+1 guard counts what the engines execute, and only inside."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bazaar.infra.db import Database
from bazaar.testing.statements import count_statements


class TestCountStatements:
    async def test_counts_statements_of_every_engine_given_once_each(
        self, database: Database
    ) -> None:
        with count_statements(database.engine, database.read_engine, database.engine) as counter:
            async with database.read_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await conn.execute(text("SELECT 2"))
        assert counter.matching("select") == ["SELECT 1", "SELECT 2"]
        assert counter.count >= 2

    async def test_stops_counting_when_the_block_ends(self, database: Database) -> None:
        with count_statements(database.read_engine) as counter:
            pass
        async with database.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert counter.count == 0

    def test_needs_an_engine(self) -> None:
        with pytest.raises(ValueError, match="at least one engine"), count_statements():
            pass
