"""The embedded broker: a partitioned, durable log with consumer groups in its own SQLite file.

Why a file of its own: the log is written on every publish and polled by every consumer; in
the application database it would compete with checkout for SQLite's single writer lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from pathlib import Path
from typing import Literal, TypeVar

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.messaging.errors import BrokerError
from bazaar.kernel.messaging.ports import Delivery, Record, partition_for

__all__ = ["OFFSET_DIGITS", "SqliteLogBroker"]

T = TypeVar("T")

# Offsets are the row ids zero-padded to this width, so that comparing two offsets as strings
# gives the same answer as comparing them as numbers (a rowid is at most 2**63 - 1, 19 digits).
OFFSET_DIGITS = 20
_WAL_RETRY_S = 0.01

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    -- AUTOINCREMENT: a deleted (trimmed) id is never handed out again, so a group's acked
    -- position can never come to stand in front of a newer message.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_position ON messages (topic, partition, id);
-- Per group and partition: every message with id <= acked is acknowledged; delivered is the
-- highest id ever handed out, so unacked ids below it are redeliveries.
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    acked INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
-- Acks above the watermark that do not (yet) join it: acks may arrive out of order.
CREATE TABLE IF NOT EXISTS group_acks (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition, id)
) WITHOUT ROWID;
"""

_UNACKED = """
SELECT m.id, m.key, m.data FROM messages AS m
WHERE m.topic = :topic AND m.partition = :partition AND m.id > :acked
  AND NOT EXISTS (
    SELECT 1 FROM group_acks AS a
    WHERE a.grp = :grp AND a.topic = :topic AND a.partition = :partition AND a.id = m.id
  )
ORDER BY m.id
LIMIT :limit
"""


class SqliteLogBroker:
    """A partitioned log with consumer groups in one SQLite file (implements ``Broker``).

    Every message is a row; its ``id`` (shared by all topics, so increasing within each
    partition) is its offset, returned as a zero-padded decimal string of ``OFFSET_DIGITS``
    digits. A group's position in a partition is a watermark (everything up to ``acked`` is
    handled) plus the set of acks above it, so acks may come in any order; once the acks
    join up, the watermark moves and the set shrinks. Everything lives in the file, so several
    processes (the API and a worker) can share one log; SQLite's single writer serialises
    appends, which makes commit order equal id order and lets a reader never miss a row.

    All statements run on one dedicated thread owning one connection: each operation is a
    single thread hop, whatever the number of statements (the hop, not the disk, is what
    limits an embedded SQLite writer here; see targets.md).

    Waiting (``block_s``): an in-process publish wakes waiters at once; a publish from another
    process is noticed by one watcher task that polls ``PRAGMA data_version`` every
    ``poll_interval_s`` while anyone waits, and wakes them all.

    Retention: past ``max_length`` messages per partition or older than ``retention_s``,
    messages are deleted every ``trim_every`` publishes (in the publishing transaction) or
    by ``trim()`` — but never one that a known group has not acknowledged: a stalled group
    holds back the trim of its partitions until it catches up.

    Every process of a deployment must use the same ``partitions``: the partition of a key,
    hence its order, depends on it.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        partitions: int = 8,
        max_length: int | None = None,
        retention_s: float | None = None,
        trim_every: int = 1000,
        poll_interval_s: float = 0.025,
        busy_timeout_s: float = 5.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        clock: Clock | None = None,
    ) -> None:
        """Describe the log; the file is opened (and created) by the first operation.

        Args:
            path: the log's own SQLite file; its directory is created when missing.
            partitions: partitions per topic.
            max_length: messages kept per partition (acked by every group) at most.
            retention_s: age after which acked messages are deleted.
            trim_every: publishes between two automatic trims (when a bound is set).
            poll_interval_s: how often a blocked fetch looks for other processes' appends.
            busy_timeout_s: how long a statement waits for another process's write lock.
            synchronous: ``FULL`` (the default) syncs every commit, so a publish survives
                power loss; ``NORMAL`` survives a process crash but not a power cut.
            clock: the source of ``published_at`` and of the retention cut-off.

        Raises:
            ConfigurationError: a bound or interval that is not positive.
        """
        for name, value in (
            ("partitions", partitions),
            ("trim_every", trim_every),
            ("poll_interval_s", poll_interval_s),
            ("busy_timeout_s", busy_timeout_s),
            ("max_length", max_length),
            ("retention_s", retention_s),
        ):
            if value is not None and value <= 0:
                raise ConfigurationError(name, f"must be positive, got {value!r}")
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError("synchronous", f"must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self._partitions = partitions
        self._max_length = max_length
        self._retention_s = retention_s
        self._trim_every = trim_every
        self._poll_interval_s = poll_interval_s
        self._busy_timeout_s = busy_timeout_s
        self._synchronous = synchronous
        self._clock = clock if clock is not None else SystemClock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bazaar-sqlite-log")
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._publishes_since_trim = 0
        # Replaced on every append: a waiter holds the generation it saw, so a publish between
        # its query and its wait still wakes it.
        self._appended = asyncio.Event()
        # data_version is per connection and only grows; all reads share one connection.
        self._last_version: int | None = None
        self._waiters = 0
        self._watcher: asyncio.Task[None] | None = None

    @property
    def partitions(self) -> int:
        return self._partitions

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Append ``records`` in one transaction: all of them are durable, or none.

        Raises:
            BrokerError: the file could not be opened or written; nothing was appended.
        """
        if not records:
            return
        rows = [(topic, partition_for(r.key, self._partitions), r.key, r.data) for r in records]
        trim = self._bounded and self._publishes_since_trim + 1 >= self._trim_every
        await self._run("publish", self._append, rows, self._clock.now(), trim)
        self._publishes_since_trim = 0 if trim else self._publishes_since_trim + 1
        generation, self._appended = self._appended, asyncio.Event()
        generation.set()

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> list[Delivery]:
        """The group's unacked messages of ``partition``, oldest first, up to ``limit``.

        Raises:
            BrokerError: the file could not be read, or the group could not be created.
            ValueError: ``partition`` is not one of this broker's partitions, or ``limit`` < 1.
        """
        self._check_partition(partition)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_s
        while True:
            generation = self._appended
            deliveries, version = await self._run(
                "fetch", self._unacked, topic, group, partition, limit
            )
            if deliveries or block_s <= 0:
                return deliveries
            # Wait for an append by this process (the event) or by another: one watcher per
            # broker polls data_version (it changes when another connection commits) for
            # all waiters, so forty idle partitions cost one poll, not forty.
            if self._last_version is not None and version < self._last_version:
                continue  # another process appended between our read and now
            self._last_version = max(version, self._last_version or version)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._waiters += 1
            if self._watcher is None:
                self._watcher = asyncio.create_task(self._watch_other_processes())
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(generation.wait(), remaining)
            finally:
                self._waiters -= 1
            if not generation.is_set():
                return []

    async def ack(self, topic: str, group: str, partition: int, offsets: Sequence[str]) -> None:
        """Acknowledge ``offsets`` (in any order); they are never delivered to ``group`` again.

        Raises:
            BrokerError: an offset this log never returns, or the file could not be written.
            ValueError: ``partition`` is not one of this broker's partitions.
        """
        self._check_partition(partition)
        if not offsets:
            return
        try:
            ids = sorted({int(offset) for offset in offsets})
        except ValueError:
            raise BrokerError(f"not offsets of this log: {list(offsets)!r}") from None
        await self._run("ack", self._ack, topic, group, partition, ids)

    async def backlog(self, topic: str, group: str) -> int:
        """Messages of ``topic`` that ``group`` has not acked; all of them for a new group.

        Raises:
            BrokerError: the file could not be read.
        """
        return await self._run("backlog", self._backlog, topic, group)

    async def trim(self) -> int:
        """Apply ``max_length`` and ``retention_s`` now; return how many messages went.

        Only messages every known group of their partition has acknowledged are deleted.

        Raises:
            BrokerError: the file could not be written.
        """
        return await self._run("trim", self._trim_all)

    async def aclose(self) -> None:
        """Close the connection and its thread; later operations raise ``BrokerError``."""
        if self._closed:
            return
        self._closed = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=False)

    # --- the event loop side ---

    @property
    def _bounded(self) -> bool:
        return self._max_length is not None or self._retention_s is not None

    def _check_partition(self, partition: int) -> None:
        if not 0 <= partition < self._partitions:
            raise ValueError(f"partition {partition} is not in 0..{self._partitions - 1}")

    async def _run(self, operation: str, function: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise BrokerError(f"sqlite log {self.path}: {operation} after aclose()")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(function, *args))
        except (sqlite3.Error, OSError) as exc:
            raise BrokerError(f"sqlite log {self.path}: {operation} failed: {exc}") from exc

    # --- the connection's thread ---

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit BEGIN; every transaction below is explicit.
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
                self._enable_wal(conn)
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Two processes opening a new file at once: the switch to WAL needs an exclusive
        # lock, and SQLite answers SQLITE_BUSY at once instead of calling the busy handler
        # (the lock is wanted while a shared one is held). Retry for busy_timeout ourselves;
        # once the file is in WAL mode the statement takes no lock and this returns at once.
        attempts = max(1, round(self._busy_timeout_s / _WAL_RETRY_S))
        for attempt in range(attempts):
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(_WAL_RETRY_S)  # this thread's own wait, as busy_timeout's

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _append(self, rows: list[tuple[str, int, str, bytes]], now: float, trim: bool) -> None:
        conn = self._connection()
        # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades to a
        # writer can fail with SQLITE_BUSY without waiting for busy_timeout.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO messages (topic, partition, key, data, published_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )
            if trim:
                self._trim(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def _watch_other_processes(self) -> None:
        """While anyone waits, poll ``data_version`` and wake the waiters when it moves."""
        try:
            while self._waiters > 0 and not self._closed:
                await asyncio.sleep(self._poll_interval_s)
                version = await self._run("fetch", self._data_version)
                if self._last_version is not None and version != self._last_version:
                    generation, self._appended = self._appended, asyncio.Event()
                    generation.set()
                self._last_version = version
        except BrokerError:
            return  # the waiters time out and query again, which reports the failure
        finally:
            self._watcher = None

    def _data_version(self) -> int:
        version: int = self._connection().execute("PRAGMA data_version").fetchone()[0]
        return version

    def _unacked(
        self, topic: str, group: str, partition: int, limit: int
    ) -> tuple[list[Delivery], int]:
        conn = self._connection()
        # One read transaction: the position and the messages come from the same snapshot.
        conn.execute("BEGIN")
        try:
            version = self._data_version()
            position = conn.execute(
                "SELECT acked, delivered FROM group_offsets "
                "WHERE grp = ? AND topic = ? AND partition = ?",
                (group, topic, partition),
            ).fetchone()
            acked, delivered = (0, 0) if position is None else position
            rows = conn.execute(
                _UNACKED,
                {
                    "topic": topic,
                    "partition": partition,
                    "grp": group,
                    "acked": acked,
                    "limit": limit,
                },
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        if position is None:
            # The group starts at the beginning of the partition. Written only here, so a
            # fetch that finds nothing new takes no write lock.
            conn.execute(
                "INSERT OR IGNORE INTO group_offsets (grp, topic, partition, acked, delivered) "
                "VALUES (?, ?, ?, 0, 0)",
                (group, topic, partition),
            )
        if rows and rows[-1][0] > delivered:
            # The mark only sets ``redelivered``, a hint: it is committed without an fsync
            # (it survives a process crash, not a power cut), which saves one sync per fetch.
            # The next synced commit makes it durable too, as the WAL is synced in order.
            # max(): only the lease holder fetches this partition, but a late write must
            # still never move the mark backwards.
            if self._synchronous != "NORMAL":
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute(
                    "UPDATE group_offsets SET delivered = max(delivered, ?) "
                    "WHERE grp = ? AND topic = ? AND partition = ?",
                    (rows[-1][0], group, topic, partition),
                )
            finally:
                if self._synchronous != "NORMAL":
                    conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        deliveries = [
            Delivery(
                topic=topic,
                partition=partition,
                offset=f"{row_id:0{OFFSET_DIGITS}d}",
                key=key,
                data=bytes(data),
                redelivered=row_id <= delivered,
            )
            for row_id, key, data in rows
        ]
        return deliveries, version

    def _ack(self, topic: str, group: str, partition: int, ids: list[int]) -> None:
        conn = self._connection()
        where = (group, topic, partition)
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT acked FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?",
                where,
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO group_offsets (grp, topic, partition, acked, delivered) "
                    "VALUES (?, ?, ?, 0, 0)",
                    where,
                )
            acked = 0 if row is None else row[0]
            ids = [row_id for row_id in ids if row_id > acked]
            if ids:
                watermark = self._next_in_line(conn, where, acked, ids)
                if watermark is None:
                    watermark = self._absorb(conn, where, acked, ids)
                if watermark > acked:
                    conn.execute(
                        "UPDATE group_offsets SET acked = ? "
                        "WHERE grp = ? AND topic = ? AND partition = ?",
                        (watermark, *where),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _next_in_line(
        conn: sqlite3.Connection, where: tuple[str, str, int], acked: int, ids: list[int]
    ) -> int | None:
        """The new watermark when ``ids`` are exactly the messages after it, else None.

        The usual case — a consumer acks the batch it fetched, with no out-of-order ack
        waiting above the watermark — then costs two index reads and no ack rows.
        """
        _, topic, partition = where
        if conn.execute(
            "SELECT 1 FROM group_acks WHERE grp = ? AND topic = ? AND partition = ? LIMIT 1",
            where,
        ).fetchone():
            return None
        following = conn.execute(
            "SELECT id FROM messages WHERE topic = ? AND partition = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (topic, partition, acked, len(ids)),
        ).fetchall()
        return ids[-1] if [r[0] for r in following] == ids else None

    @staticmethod
    def _absorb(
        conn: sqlite3.Connection, where: tuple[str, str, int], acked: int, ids: list[int]
    ) -> int:
        """Record out-of-order acks; return the watermark they and earlier acks now reach."""
        group, topic, partition = where
        conn.executemany(
            "INSERT OR IGNORE INTO group_acks (grp, topic, partition, id) VALUES (?, ?, ?, ?)",
            [(*where, row_id) for row_id in ids],
        )
        # Up to the first unacked message, or to the newest message when none is left (ids
        # only grow, so any later message lands above the watermark).
        first_unacked = conn.execute(
            "SELECT m.id FROM messages AS m "
            "WHERE m.topic = ? AND m.partition = ? AND m.id > ? AND NOT EXISTS ("
            "  SELECT 1 FROM group_acks AS a"
            "  WHERE a.grp = ? AND a.topic = m.topic AND a.partition = m.partition"
            "    AND a.id = m.id"
            ") ORDER BY m.id LIMIT 1",
            (topic, partition, acked, group),
        ).fetchone()
        if first_unacked is not None:
            watermark: int = first_unacked[0] - 1
        else:
            (newest,) = conn.execute(
                "SELECT max(id) FROM messages WHERE topic = ? AND partition = ?",
                (topic, partition),
            ).fetchone()
            watermark = max(acked, newest or 0)
        conn.execute(
            "DELETE FROM group_acks WHERE grp = ? AND topic = ? AND partition = ? AND id <= ?",
            (*where, watermark),
        )
        return watermark

    def _backlog(self, topic: str, group: str) -> int:
        conn = self._connection()
        total = 0
        conn.execute("BEGIN")
        try:
            for partition in range(self._partitions):
                row = conn.execute(
                    "SELECT acked FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?",
                    (group, topic, partition),
                ).fetchone()
                acked = 0 if row is None else row[0]
                (after,) = conn.execute(
                    "SELECT count(*) FROM messages WHERE topic = ? AND partition = ? AND id > ?",
                    (topic, partition, acked),
                ).fetchone()
                # Acks above the watermark of messages still in the log.
                (acked_above,) = conn.execute(
                    "SELECT count(*) FROM group_acks AS a JOIN messages AS m "
                    "  ON m.id = a.id AND m.topic = a.topic AND m.partition = a.partition "
                    "WHERE a.grp = ? AND a.topic = ? AND a.partition = ?",
                    (group, topic, partition),
                ).fetchone()
                total += after - acked_above
        finally:
            conn.execute("COMMIT")
        return total

    def _trim_all(self) -> int:
        if not self._bounded:
            return 0
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._trim(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return deleted

    def _trim(self, conn: sqlite3.Connection) -> int:
        deleted = 0
        cutoff = None if self._retention_s is None else self._clock.now() - self._retention_s
        stream = conn.execute(
            "SELECT topic, partition FROM messages ORDER BY topic, partition LIMIT 1"
        ).fetchone()
        while stream is not None:
            deleted += self._trim_partition(conn, stream[0], stream[1], cutoff)
            # Skip to the next (topic, partition): one index seek per partition, not a scan.
            stream = conn.execute(
                "SELECT topic, partition FROM messages WHERE (topic, partition) > (?, ?) "
                "ORDER BY topic, partition LIMIT 1",
                stream,
            ).fetchone()
        return deleted

    def _trim_partition(
        self, conn: sqlite3.Connection, topic: str, partition: int, cutoff: float | None
    ) -> int:
        bound = 0  # delete ids <= bound
        if self._max_length is not None:
            row = conn.execute(
                "SELECT id FROM messages WHERE topic = ? AND partition = ? "
                "ORDER BY id DESC LIMIT 1 OFFSET ?",
                (topic, partition, self._max_length),
            ).fetchone()
            if row is not None:
                bound = row[0]
        if cutoff is not None:
            # Ids follow publish time, so the first young message ends the expired prefix;
            # the scan reads only the rows it is about to delete.
            row = conn.execute(
                "SELECT id FROM messages WHERE topic = ? AND partition = ? AND published_at >= ? "
                "ORDER BY id LIMIT 1",
                (topic, partition, cutoff),
            ).fetchone()
            if row is not None:
                bound = max(bound, row[0] - 1)
            else:
                (newest,) = conn.execute(
                    "SELECT max(id) FROM messages WHERE topic = ? AND partition = ?",
                    (topic, partition),
                ).fetchone()
                bound = max(bound, newest or 0)
        # A group known on any partition of the topic protects every partition of it, also
        # those it has not fetched yet (no row: it will start at their beginning).
        (slowest,) = conn.execute(
            "SELECT min(coalesce(o.acked, 0)) "
            "FROM (SELECT DISTINCT grp FROM group_offsets WHERE topic = ?) AS g "
            "LEFT JOIN group_offsets AS o "
            "  ON o.grp = g.grp AND o.topic = ? AND o.partition = ?",
            (topic, topic, partition),
        ).fetchone()
        if slowest is not None:
            bound = min(bound, slowest)
        if bound <= 0:
            return 0
        cursor = conn.execute(
            "DELETE FROM messages WHERE topic = ? AND partition = ? AND id <= ?",
            (topic, partition, bound),
        )
        return cursor.rowcount
