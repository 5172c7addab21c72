"""The Redis broker: one stream per topic partition, read through consumer groups.

Why streams: they are Redis's durable log with consumer groups, acknowledgements and a
pending-entries list, which is exactly the port's contract; the reclaim of a crashed
consumer's entries is ``XAUTOCLAIM``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.messaging.errors import BrokerError
from bazaar.kernel.messaging.ports import Delivery, Record, partition_for

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_KEY_PREFIX", "RedisStreamsBroker"]

DEFAULT_KEY_PREFIX = "bazaar:stream:"
# Entry fields: short names, because every entry repeats them.
_KEY = b"k"
_DATA = b"d"
# XAUTOCLAIM examines up to ten times COUNT pending entries per call.
_CLAIM_BATCH = 100
_COUNT_BATCH = 1000


class RedisStreamsBroker:
    """The ``Broker`` port on Redis Streams: a stream ``{key_prefix}{topic}:{partition}``.

    Publishing is one pipelined ``XADD`` per record (``MAXLEN ~ max_length``); retention by
    age is an ``XTRIM MINID ~`` added to a publish at most every ``trim_interval_s`` per
    stream. A group is created at ``0`` (the beginning) on first use, and again if it
    disappears (a Redis restart without persistence).

    A fetch returns, in order: this consumer's pending entries (``redelivered``), then new
    ones (``>``, blocking up to ``block_s``). Before that, entries pending for *other*
    consumers of the group — a previous owner of the partition that crashed or lost its
    lease — are claimed once idle for ``visibility_timeout_s``; while any of them is younger
    than that the fetch returns nothing, since reading past them would break per-key order.

    ``consumer_name`` must be unique per process and should be stable across its restarts
    (a restarted consumer then gets its own pending entries back at once instead of after
    the visibility timeout).

    Durability is Redis's: a publish survives a Redis restart only with ``appendonly yes``
    (``appendfsync always`` for every write; ``everysec`` loses up to a second). Trimming
    does not look at groups: an entry trimmed before a group read it is lost for that
    group, so size ``max_length`` and ``retention_s`` above the longest expected outage.

    The client is borrowed: ``aclose()`` leaves it open for whoever created it. It must
    return bytes (``decode_responses=False``), and its ``socket_timeout`` must exceed the
    longest ``block_s``.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        partitions: int = 8,
        consumer_name: str | None = None,
        visibility_timeout_s: float = 5.0,
        max_length: int | None = None,
        retention_s: float | None = None,
        trim_interval_s: float = 1.0,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Clock | None = None,
    ) -> None:
        """Wrap ``redis``; nothing is sent until the first operation.

        Args:
            redis: an asyncio client returning bytes.
            partitions: partitions (streams) per topic.
            consumer_name: this process's name in every group; default ``host:pid``.
            visibility_timeout_s: idle time after which another consumer's pending entries
                are taken over.
            max_length: approximate entries kept per stream (``MAXLEN ~``).
            retention_s: approximate age after which entries are trimmed (``MINID ~``).
            trim_interval_s: least time between two age trims of one stream.
            key_prefix: prefix of every stream key.
            clock: the source of the age-trim cut-off and of the trim interval.

        Raises:
            ConfigurationError: a bound that is not positive, or a client decoding responses.
        """
        for name, value in (
            ("partitions", partitions),
            ("visibility_timeout_s", visibility_timeout_s),
            ("trim_interval_s", trim_interval_s),
            ("max_length", max_length),
            ("retention_s", retention_s),
        ):
            if value is not None and value <= 0:
                raise ConfigurationError(name, f"must be positive, got {value!r}")
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError(
                "redis", "the client decodes responses; messages are bytes, use a raw client"
            )
        self._redis = redis
        self._partitions = partitions
        self.consumer_name = consumer_name or f"{socket.gethostname()}:{os.getpid()}"
        self._consumer = self.consumer_name.encode()
        self._idle_ms = max(1, round(visibility_timeout_s * 1000))
        self._max_length = max_length
        self._retention_s = retention_s
        self._trim_interval_s = trim_interval_s
        self._key_prefix = key_prefix
        self._clock = clock if clock is not None else SystemClock()
        # Streams whose group this instance created (or found): XGROUP CREATE is sent once.
        self._groups: set[tuple[str, str]] = set()
        self._last_trim: dict[str, float] = {}
        self._closed = False

    @property
    def partitions(self) -> int:
        return self._partitions

    def stream(self, topic: str, partition: int) -> str:
        """The key of the stream holding ``partition`` of ``topic``."""
        return f"{self._key_prefix}{topic}:{partition}"

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Append ``records`` with one pipelined round trip.

        Raises:
            BrokerError: Redis failed; some records may have been appended.
        """
        if not records:
            return
        self._check_open("publish")
        from redis.exceptions import RedisError

        pipe = self._redis.pipeline(transaction=False)
        streams = set()
        for record in records:
            stream = self.stream(topic, partition_for(record.key, self._partitions))
            streams.add(stream)
            pipe.xadd(
                stream,
                {_KEY: record.key.encode(), _DATA: record.data},
                maxlen=self._max_length,
                approximate=True,
            )
        if self._retention_s is not None:
            now = self._clock.monotonic()
            min_id = f"{max(0, int((self._clock.now() - self._retention_s) * 1000))}-0"
            for stream in sorted(streams):
                if now - self._last_trim.get(stream, -self._trim_interval_s) >= (
                    self._trim_interval_s
                ):
                    self._last_trim[stream] = now
                    pipe.xtrim(stream, minid=min_id, approximate=True)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BrokerError(f"redis publish to {topic!r} failed: {exc}") from exc

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> list[Delivery]:
        """The group's unacked entries of the partition, oldest first, up to ``limit``.

        Raises:
            BrokerError: Redis failed.
            ValueError: ``partition`` is not one of this broker's partitions, or ``limit`` < 1.
        """
        self._check_partition(partition)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._check_open("fetch")
        from redis.exceptions import RedisError, ResponseError

        stream = self.stream(topic, partition)
        try:
            await self._ensure_group(stream, group)
            try:
                return await self._fetch(stream, topic, group, partition, limit, block_s)
            except ResponseError as exc:
                # In a pipeline the error is wrapped in "Command # n (...) caused error".
                if "NOGROUP" not in str(exc):
                    raise
                # The group is gone (Redis restarted without persistence, or the key was
                # deleted): start it again from what the stream still holds.
                self._groups.discard((stream, group))
                await self._ensure_group(stream, group)
                return await self._fetch(stream, topic, group, partition, limit, block_s)
        except (RedisError, OSError) as exc:
            raise BrokerError(f"redis fetch from {stream!r} failed: {exc}") from exc

    async def ack(self, topic: str, group: str, partition: int, offsets: Sequence[str]) -> None:
        """``XACK`` the entries; acking an unknown or already acked entry does nothing.

        Raises:
            BrokerError: Redis failed, or an offset is not a stream entry id.
            ValueError: ``partition`` is not one of this broker's partitions.
        """
        self._check_partition(partition)
        if not offsets:
            return
        self._check_open("ack")
        from redis.exceptions import RedisError

        stream = self.stream(topic, partition)
        try:
            await self._redis.xack(stream, group, *offsets)
        except (RedisError, OSError) as exc:
            raise BrokerError(f"redis ack on {stream!r} failed: {exc}") from exc

    async def backlog(self, topic: str, group: str) -> int:
        """Entries not yet delivered (lag) plus delivered and unacked (pending), summed.

        A group that does not exist yet counts every entry: it will start at the beginning.

        Raises:
            BrokerError: Redis failed.
        """
        self._check_open("backlog")
        from redis.exceptions import RedisError, ResponseError

        streams = [self.stream(topic, p) for p in range(self._partitions)]
        try:
            pipe = self._redis.pipeline(transaction=False)
            for stream in streams:
                pipe.xinfo_groups(stream)
                pipe.xlen(stream)
            replies = await pipe.execute(raise_on_error=False)
            total = 0
            for stream, groups, length in zip(streams, replies[::2], replies[1::2], strict=True):
                if isinstance(groups, ResponseError) and "no such key" in str(groups).lower():
                    continue
                for reply in (groups, length):
                    if isinstance(reply, Exception):
                        raise reply
                info = _find_group(groups, group)
                if info is None:
                    total += int(length)
                    continue
                lag = info.get("lag")
                if lag is None:
                    # Older servers have no lag, and 7.x reports none when it cannot tell
                    # (deleted entries in the range): count what follows the group's position.
                    lag = await self._count_after(stream, info["last-delivered-id"])
                total += int(lag) + int(info["pending"])
        except (RedisError, OSError) as exc:
            raise BrokerError(f"redis backlog of {topic!r} failed: {exc}") from exc
        return total

    async def aclose(self) -> None:
        """Refuse further operations; the borrowed client stays open."""
        self._closed = True

    # --- internals ---

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise BrokerError(f"redis broker: {operation} after aclose()")

    def _check_partition(self, partition: int) -> None:
        if not 0 <= partition < self._partitions:
            raise ValueError(f"partition {partition} is not in 0..{self._partitions - 1}")

    async def _ensure_group(self, stream: str, group: str) -> None:
        if (stream, group) in self._groups:
            return
        from redis.exceptions import ResponseError

        try:
            await self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._groups.add((stream, group))

    async def _fetch(
        self, stream: str, topic: str, group: str, partition: int, limit: int, block_s: float
    ) -> list[Delivery]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xpending(stream, group)
        pipe.xreadgroup(group, self.consumer_name, {stream: "0"}, count=limit)
        summary, own = await pipe.execute()
        if self._others_pending(summary):
            await self._claim_idle(stream, group)
            if self._others_pending(await self._redis.xpending(stream, group)):
                return []
            own = await self._redis.xreadgroup(
                group, self.consumer_name, {stream: "0"}, count=limit
            )
        entries = _entries(own)
        # Entries trimmed while pending come back without fields: nothing left to deliver.
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:
            await self._redis.xack(stream, group, *gone)
        deliveries = [
            _delivery(topic, partition, entry_id, fields, redelivered=True)
            for entry_id, fields in entries
            if fields
        ]
        if len(entries) < limit:
            # Our pending list is exhausted: top up with new entries. Block only when there
            # is nothing to return yet (BLOCK 0 would wait forever, hence None).
            block = None if deliveries or block_s <= 0 else max(1, round(block_s * 1000))
            new = await self._redis.xreadgroup(
                group,
                self.consumer_name,
                {stream: ">"},
                count=limit - len(deliveries),
                block=block,
            )
            deliveries.extend(
                _delivery(topic, partition, entry_id, fields, redelivered=False)
                for entry_id, fields in _entries(new)
                if fields
            )
        return deliveries

    def _others_pending(self, summary: Any) -> bool:
        return any(
            name != self._consumer and pending > 0 for name, pending in _by_consumer(summary)
        )

    async def _claim_idle(self, stream: str, group: str) -> None:
        cursor: bytes | str = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                stream,
                group,
                self.consumer_name,
                min_idle_time=self._idle_ms,
                start_id=cursor,
                count=_CLAIM_BATCH,
            )
            cursor = reply[0]
            if _bytes(cursor) == b"0-0":
                return

    async def _count_after(self, stream: str, last_id: bytes | str) -> int:
        count = 0
        start = _bytes(last_id).decode()
        while True:
            batch: list[Any] = (
                await self._redis.xrange(stream, f"({start}", "+", count=_COUNT_BATCH) or []
            )
            count += len(batch)
            if len(batch) < _COUNT_BATCH:
                return count
            start = _bytes(batch[-1][0]).decode()


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _by_consumer(summary: Any) -> list[tuple[bytes, int]]:
    """(consumer, pending count) pairs of an XPENDING summary, parsed or raw."""
    if isinstance(summary, Mapping):
        return [(_bytes(c["name"]), int(c["pending"])) for c in summary.get("consumers") or []]
    # The raw reply: [count, smallest id, greatest id, [[consumer, count], ...]].
    return [(_bytes(name), int(count)) for name, count in summary[3] or []]


def _entries(reply: Any) -> list[tuple[bytes, Mapping[bytes, bytes]]]:
    """The entries of a one-stream XREADGROUP reply, whichever shape the client gives it."""
    if not reply:
        return []
    # RESP2 (and legacy) shape: [[stream, entries]]; RESP3 / unified: {stream: entries}.
    streams = reply.values() if isinstance(reply, Mapping) else (item[1] for item in reply)
    entries: list[tuple[bytes, Mapping[bytes, bytes]]] = []
    for stream_entries in streams:
        # RESP3 (legacy) wraps each stream's entries in one more list.
        if stream_entries and isinstance(stream_entries[0], list):
            stream_entries = stream_entries[0]
        for entry_id, fields in stream_entries:
            entries.append((_bytes(entry_id), fields or {}))
    return entries


def _delivery(
    topic: str, partition: int, entry_id: bytes, fields: Mapping[bytes, bytes], *, redelivered: bool
) -> Delivery:
    return Delivery(
        topic=topic,
        partition=partition,
        offset=entry_id.decode(),
        key=fields[_KEY].decode(),
        data=fields[_DATA],
        redelivered=redelivered,
    )


def _find_group(groups: Any, group: str) -> Mapping[str, Any] | None:
    wanted = group.encode()
    for info in groups or []:
        if _bytes(info["name"]) == wanted:
            found: Mapping[str, Any] = info
            return found
    return None
