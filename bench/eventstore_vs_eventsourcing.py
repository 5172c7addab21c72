"""Benchmark P9: the event store against the ``eventsourcing`` library, same persistence, same run.

Three measures, on SQLite (a file, WAL) and on PostgreSQL (a private cluster this script
starts, when its binaries are found):

- **append per save**: one event appended per transaction, to one of 100 existing streams,
  the writer knowing each stream's version (as an application holding its aggregates does).
  Ours: ``SqlEventStore.append`` in a session transaction (SQLAlchemy async; aiosqlite /
  asyncpg). Theirs: ``Application.save`` of an ``Aggregate`` after one event (sqlite3 /
  psycopg, synchronous).
- **rehydrate 1,000 events**: load one 1,000-event stream into a state. Ours:
  ``EventSourcedRepository.load``; theirs: ``Application.repository.get`` (no cache, no
  snapshots on either side).
- **snapshots**: ours, a 10,000-event stream loaded with snapshots every 100 events against
  the same load without; target: <= 5% of the time.

Targets (targets.md P9): ours >= 2x theirs on the first two; the third as above. Each
measure alternates ours and theirs, five runs, medians; ops/s of wall time (both sides wait
on their database). Takes about two minutes; writes
``bench/results/eventstore_vs_eventsourcing.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from sqlalchemy import MetaData

from bazaar.infra.db import Database, create_database
from bazaar.kernel.eventstore import (
    EventSourcedRepository,
    NewEvent,
    RecordedEvent,
)
from bazaar.kernel.eventstore.sqlalchemy import EventStoreTables, SqlEventStore, event_store_tables
from bazaar.testing.servers import PostgresServer, find_postgres_bin_dir

RESULTS = Path(__file__).parent / "results" / "eventstore_vs_eventsourcing.json"
RUNS = 5
STREAMS, SAVES = 100, 1_000  # append per save: saves per run, spread over the streams
REHYDRATE_EVENTS, REHYDRATE_LOADS = 1_000, 20
SNAPSHOT_EVENTS, SNAPSHOT_EVERY, SNAPSHOT_LOADS = 10_000, 100, 5
TARGET_SPEEDUP, TARGET_SNAPSHOT_SHARE = 2.0, 0.05


class Wallet(Aggregate):
    """Theirs: the aggregate the reference application saves and loads."""

    def __init__(self) -> None:
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[Any]):
    pass


def balance(state: int, recorded: RecordedEvent) -> int:
    """Ours: the same fold."""
    return state + int(recorded.data["amount"])


def deposited(amount: int = 1) -> NewEvent:
    return NewEvent(uuid.uuid4().hex, "Deposited", {"amount": amount})


class Ours:
    def __init__(self, database: Database, tables: EventStoreTables) -> None:
        self.database, self.tables = database, tables
        self.versions: dict[str, int] = {}
        self.plain = EventSourcedRepository[int](initial=int, apply=balance)
        self.snapshotting = EventSourcedRepository[int](
            initial=int,
            apply=balance,
            snapshot_every=SNAPSHOT_EVERY,
            to_snapshot=lambda state: {"balance": state},
            from_snapshot=lambda data: int(data["balance"]),
        )

    async def append(self, stream: str, events: list[NewEvent]) -> None:
        async with self.database.sessions() as session, session.begin():
            store = SqlEventStore(session, self.tables)
            version = self.versions.get(stream, 0)
            await store.append(stream, events, expected_version=version)
            self.versions[stream] = version + len(events)

    async def fill(self, stream: str, count: int, *, snapshots: bool) -> None:
        repo = self.snapshotting if snapshots else self.plain
        for start in range(0, count, 500):
            async with self.database.sessions() as session, session.begin():
                store = SqlEventStore(session, self.tables)
                loaded = await repo.load(store, stream, snapshots=store if snapshots else None)
                new = [deposited() for _ in range(min(500, count - start))]
                if snapshots:  # one event per append, so every multiple is crossed
                    for one in new:
                        loaded = await repo.append(store, stream, loaded, [one], snapshots=store)
                else:
                    await repo.append(store, stream, loaded, new)

    async def load(self, stream: str, *, snapshots: bool) -> int:
        async with self.database.read_sessions() as session:
            store = SqlEventStore(session, self.tables)
            if snapshots:
                loaded = await self.snapshotting.load(store, stream, snapshots=store)
            else:
                loaded = await self.plain.load(store, stream)
            return loaded.state


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def engine_results(
    name: str, url: str, theirs_env: dict[str, str]
) -> dict[str, Any]:  # one engine's measures
    loop = asyncio.new_event_loop()
    database = create_database(url)
    metadata_ = MetaData()
    tables = event_store_tables(metadata_, prefix="bench")

    async def create() -> None:
        async with database.engine.begin() as conn:
            await conn.run_sync(metadata_.drop_all)
            await conn.run_sync(metadata_.create_all)

    loop.run_until_complete(create())
    ours = Ours(database, tables)
    app = Bank(env=theirs_env)
    print(f"{name}: preparing streams")
    streams = [f"save-{i}" for i in range(STREAMS)]
    for stream in streams:
        loop.run_until_complete(ours.append(stream, [deposited()]))
    wallets = []
    for _ in range(STREAMS):
        wallet = Wallet()
        wallet.deposit(1)
        app.save(wallet)
        wallets.append(wallet)
    loop.run_until_complete(ours.fill("long", REHYDRATE_EVENTS, snapshots=False))
    long_wallet = Wallet()
    for _ in range(REHYDRATE_EVENTS):
        long_wallet.deposit(1)
    app.save(long_wallet)
    loop.run_until_complete(ours.fill("snapshotted", SNAPSHOT_EVENTS, snapshots=True))

    def ours_saves() -> None:
        async def run() -> None:
            for i in range(SAVES):
                await ours.append(streams[i % STREAMS], [deposited()])

        loop.run_until_complete(run())

    def theirs_saves() -> None:
        for i in range(SAVES):
            wallet = wallets[i % STREAMS]
            wallet.deposit(1)
            app.save(wallet)

    def ours_loads() -> None:
        async def run() -> None:
            for _ in range(REHYDRATE_LOADS):
                assert await ours.load("long", snapshots=False) == REHYDRATE_EVENTS

        loop.run_until_complete(run())

    def theirs_loads() -> None:
        for _ in range(REHYDRATE_LOADS):
            assert app.repository.get(long_wallet.id).balance == REHYDRATE_EVENTS

    def with_snapshots() -> None:
        async def run() -> None:
            for _ in range(SNAPSHOT_LOADS):
                assert await ours.load("snapshotted", snapshots=True) == SNAPSHOT_EVENTS

        loop.run_until_complete(run())

    def without_snapshots() -> None:
        async def run() -> None:
            for _ in range(SNAPSHOT_LOADS):
                assert await ours.load("snapshotted", snapshots=False) == SNAPSHOT_EVENTS

        loop.run_until_complete(run())

    pairs = {
        "append_per_save": (ours_saves, theirs_saves, SAVES),
        "rehydrate_1000": (ours_loads, theirs_loads, REHYDRATE_LOADS),
        "rehydrate_10000_snapshots": (with_snapshots, without_snapshots, SNAPSHOT_LOADS),
    }
    results: dict[str, Any] = {}
    for measure, (subject, reference, count) in pairs.items():
        subject(), reference()  # warm up
        samples: list[tuple[float, float]] = []
        for run in range(RUNS):
            order = [subject, reference] if run % 2 == 0 else [reference, subject]
            took = {id(f): timed(f) for f in order}
            samples.append((count / took[id(subject)], count / took[id(reference)]))
        ratios = [ours / theirs for ours, theirs in samples]
        results[measure] = {
            "ours_per_s": statistics.median(s[0] for s in samples),
            "reference_per_s": statistics.median(s[1] for s in samples),
            "median_ratio": statistics.median(ratios),
            "runs": samples,
        }
        print(f"{name:10} {measure:28} ours {results[measure]['ours_per_s']:10,.1f}/s  "
              f"reference {results[measure]['reference_per_s']:10,.1f}/s  "
              f"ratio {results[measure]['median_ratio']:.2f}")  # fmt: skip
    app.close()
    loop.run_until_complete(database.dispose())
    loop.close()
    return results


def main() -> None:
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        ours_file, theirs_file = Path(scratch) / "ours.db", Path(scratch) / "theirs.db"
        report["sqlite"] = engine_results(
            "sqlite",
            f"sqlite+aiosqlite:///{ours_file}",
            {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(theirs_file)},
        )
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        print("PostgreSQL skipped: binaries not found (set BAZAAR_PG_BIN)")
    else:
        with PostgresServer(bin_dir) as server:
            url = server.create_database("bench_ours")
            server.create_database("bench_theirs")
            report["postgres"] = engine_results(
                "postgres",
                url,
                {
                    "PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_DBNAME": "bench_theirs",
                    "POSTGRES_HOST": "127.0.0.1",
                    "POSTGRES_PORT": str(server.port),
                    "POSTGRES_USER": "postgres",
                    "POSTGRES_PASSWORD": "unused",  # trust authentication on loopback
                },
            )
    verdicts = []
    for engine, measures in report.items():
        for measure in ("append_per_save", "rehydrate_1000"):
            ratio = measures[measure]["median_ratio"]
            verdicts.append(f"{engine} {measure}: {ratio:.2f}x (target {TARGET_SPEEDUP}x)")
        share = 1 / measures["rehydrate_10000_snapshots"]["median_ratio"]
        verdicts.append(
            f"{engine} 10k with snapshots: {share:.1%} of the time without "
            f"(target <= {TARGET_SNAPSHOT_SHARE:.0%})"
        )
    print("\n".join(verdicts))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "eventstore_vs_eventsourcing",
                "target": "P9: >= 2x eventsourcing on append-per-save and on rehydrating "
                "1,000 events; a 10k-event stream with snapshots in <= 5% of the time without",
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "platform": platform.platform(),
                    "cpu_count": os.cpu_count(),
                    "python_version": platform.python_version(),
                },
                "versions": {
                    "bazaar": metadata.version("bazaar"),
                    "eventsourcing": metadata.version("eventsourcing"),
                    "sqlalchemy": metadata.version("sqlalchemy"),
                },
                "method": f"{RUNS} runs per measure, ours and the reference alternating "
                "(order swapped every run), wall time, medians; ratio = ours / reference per "
                f"run, median. Append: {SAVES} saves over {STREAMS} streams. Rehydrate: "
                f"{REHYDRATE_LOADS} loads of {REHYDRATE_EVENTS} events. Snapshots: "
                f"{SNAPSHOT_LOADS} loads of {SNAPSHOT_EVENTS} events, snapshot every "
                f"{SNAPSHOT_EVERY}; the ratio there is with / without (ours only).",
                "results": report,
                "verdicts": verdicts,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
