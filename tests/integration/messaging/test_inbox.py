"""The SQL inbox on real engines: one lookup and one write per batch, duplicates ignored."""

from __future__ import annotations

from datetime import UTC, datetime

from bazaar.infra.db import Database
from bazaar.kernel.messaging import SqlInboxStore
from bazaar.testing.messaging import MessagingTables

AT = datetime(2026, 11, 26, tzinfo=UTC)


async def test_record_all_then_seen_answers_the_subset(
    database: Database, tables: MessagingTables
) -> None:
    inbox = SqlInboxStore(database.sessions, tables.inbox)
    assert await inbox.seen("c", ["1", "2"]) == set()
    await inbox.record_all("c", ["1", "2", "2"], AT)  # a duplicate inside the batch
    await inbox.record_all("c", ["2", "3"], AT)  # and one recorded before
    assert await inbox.seen("c", ["1", "2", "3", "4"]) == {"1", "2", "3"}
    assert await inbox.seen("other", ["1"]) == set()
    assert await inbox.record("c", "4", AT) is True
    assert await inbox.record("c", "4", AT) is False
    assert await inbox.contains("c", "4")
    assert await inbox.purge(before=AT.timestamp() + 1) == 4
    assert await inbox.seen("c", ["1", "4"]) == set()
