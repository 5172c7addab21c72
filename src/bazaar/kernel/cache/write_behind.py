"""Write-behind counters: increments add up in memory and reach the database in batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from bazaar.kernel.cache.errors import CacheConfigurationError, CacheError
from bazaar.kernel.clock import Clock

__all__ = [
    "CounterEvent",
    "CounterFlushError",
    "CounterFlushFailed",
    "CounterListener",
    "CounterSink",
    "CountersDropped",
    "CountersFlushed",
    "InMemoryCounterSink",
    "RecordingCounterListener",
    "WriteBehindCounter",
]

_E = TypeVar("_E")


@runtime_checkable
class CounterSink(Protocol):
    """Where flushed counts go: the caller's database write (the port)."""

    async def flush(self, counts: Mapping[str, int]) -> None:
        """Add each count to its key's stored value, all or nothing.

        Typically one transaction of ``UPDATE … SET views = views + :count WHERE id = :key``.
        Raising means nothing was written: the counts are kept and offered again.

        Args:
            counts: Key to the amount to add, at most ``max_batch`` keys, none of them 0.
        """
        ...


@dataclass(frozen=True, slots=True)
class CountersFlushed:
    """A batch of ``keys`` keys adding up to ``total`` reached the sink in ``duration_s``."""

    name: str
    keys: int
    total: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class CounterFlushFailed:
    """The sink failed; ``keys`` keys were put back to pending. ``error`` is the exception's
    class name."""

    name: str
    error: str
    keys: int


@dataclass(frozen=True, slots=True)
class CountersDropped:
    """Counts were discarded because ``max_pending_keys`` keys were already pending.

    ``keys`` is how many entries were lost: keys of a failed batch that found no room, and
    ``incr`` calls on a new key refused while pending was full (one each). ``total`` is
    the sum of the counts lost.
    """

    name: str
    keys: int
    total: int


CounterEvent = CountersFlushed | CounterFlushFailed | CountersDropped


@runtime_checkable
class CounterListener(Protocol):
    """Receives a counter's events; called inline, so it must be quick and must not raise."""

    def on_event(self, event: CounterEvent) -> None: ...


class CounterFlushError(CacheError):
    """The sink failed to write a flush; its exception is chained.

    ``keys`` keys were put back to pending (less any reported by ``CountersDropped``).
    """

    def __init__(self, name: str, keys: int) -> None:
        super().__init__(f"write-behind counter {name!r} failed to flush {keys} keys")
        self.name = name
        self.keys = keys


class _NullListener:
    def on_event(self, event: CounterEvent) -> None:
        """Ignore ``event``."""


class RecordingCounterListener:
    """Keeps every event in ``events``, oldest first (a fake for tests)."""

    def __init__(self) -> None:
        self.events: list[CounterEvent] = []

    def on_event(self, event: CounterEvent) -> None:
        """Append ``event`` to ``events``."""
        self.events.append(event)

    def of_type(self, event_type: type[_E]) -> list[_E]:
        """The recorded events of one type, oldest first."""
        return [event for event in self.events if isinstance(event, event_type)]


class InMemoryCounterSink:
    """A sink that adds into ``totals`` and keeps each batch in ``batches`` (a fake for tests)."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.batches: list[dict[str, int]] = []

    async def flush(self, counts: Mapping[str, int]) -> None:
        """See ``CounterSink.flush``."""
        self.batches.append(dict(counts))
        for key, count in counts.items():
            self.totals[key] = self.totals.get(key, 0) + count


class WriteBehindCounter:
    """Counters written behind: ``incr`` adds in memory, ``flush`` writes the sums in batches.

    For counts that may lag and may, within a stated bound, be lost (link clicks, view
    counts): a million views of one page become one ``UPDATE … + 1000000``.

    Flushing swaps the pending map for an empty one and hands it to the sink in batches of at
    most ``max_batch`` keys. If the sink raises, that batch and the ones after it are put back
    (added to whatever arrived meanwhile) and offered at the next flush. ``run`` flushes
    every ``interval_s``, sooner when ``max_batch`` keys are pending, and once more when it
    is stopped or cancelled.

    Bounded loss, precisely:

    * A crash (the process dies without the final flush) loses the counts since the last
      successful flush: with the sink healthy, at most ``interval_s`` of increments (less
      when ``max_batch`` keys fill up first), plus any flush in flight.
    * Memory is bounded: at most ``max_pending_keys`` keys are held. While the sink fails,
      increments of keys already pending still add up; an increment of a new key past the
      bound, and restored keys that find no room, are dropped and reported as
      ``CountersDropped``: nothing is dropped silently.
    * A sink that raises after committing (a timeout on the reply) has its counts offered
      again: across such ambiguous failures counts are at least once, not exactly once.
    """

    __slots__ = (
        "_clock",
        "_due",
        "_flushing",
        "_listener",
        "_pending",
        "_refused_calls",
        "_refused_total",
        "_sink",
        "interval_s",
        "max_batch",
        "max_pending_keys",
        "name",
    )

    def __init__(
        self,
        name: str,
        sink: CounterSink,
        clock: Clock,
        *,
        interval_s: float = 5.0,
        max_batch: int = 500,
        max_pending_keys: int = 100_000,
        listener: CounterListener | None = None,
    ) -> None:
        """Create a counter with nothing pending.

        Args:
            name: For events and errors, e.g. ``"link_clicks"``.
            sink: Where flushed counts are written.
            clock: Whose ``sleep`` paces ``run`` and whose ``monotonic`` times flushes.
            interval_s: Seconds between flushes in ``run``; the most a crash loses.
            max_batch: Keys per sink call; this many pending keys also flushes early.
            max_pending_keys: Keys held at most while the sink fails.
            listener: Receives the events; none by default.

        Raises:
            CacheConfigurationError: If a number is out of range.
        """
        if not interval_s > 0:
            raise CacheConfigurationError("interval_s", f"must be positive, got {interval_s}")
        if max_batch < 1:
            raise CacheConfigurationError("max_batch", f"must be at least 1, got {max_batch}")
        if max_pending_keys < max_batch:
            raise CacheConfigurationError(
                "max_pending_keys",
                f"must be at least max_batch ({max_batch}), got {max_pending_keys}",
            )
        self.name = name
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.max_pending_keys = max_pending_keys
        self._sink = sink
        self._clock = clock
        self._listener: CounterListener = listener or _NullListener()
        self._pending: dict[str, int] = {}
        self._refused_calls = 0
        self._refused_total = 0
        self._due = asyncio.Event()
        # One flush at a time: the sink sees one transaction after another, and a failed
        # batch is put back before the next flush takes the pending map.
        self._flushing = asyncio.Lock()

    def incr(self, key: str, by: int = 1) -> None:
        """Add ``by`` (may be negative) to ``key``'s pending count; no I/O."""
        pending = self._pending
        if key in pending:
            pending[key] += by
        elif len(pending) < self.max_pending_keys:
            pending[key] = by
            if len(pending) >= self.max_batch:
                self._due.set()
        else:
            self._refused_calls += 1
            self._refused_total += by

    def pending(self) -> dict[str, int]:
        """A copy of the counts not yet flushed."""
        return dict(self._pending)

    async def flush(self) -> int:
        """Write every pending count to the sink, ``max_batch`` keys per call.

        Returns:
            How many keys were written (keys whose counts add up to 0 are skipped).

        Raises:
            CounterFlushError: If the sink raised; the unwritten counts are pending again.
        """
        async with self._flushing:
            self._report_refused()
            if not self._pending:
                return 0
            taken, self._pending = self._pending, {}
            self._due.clear()
            items = [(key, count) for key, count in taken.items() if count]
            written = 0
            for start in range(0, len(items), self.max_batch):
                batch = dict(items[start : start + self.max_batch])
                began = self._clock.monotonic()
                try:
                    await self._sink.flush(batch)
                except Exception as exc:
                    unwritten = items[start:]
                    self._restore(unwritten)
                    self._listener.on_event(
                        CounterFlushFailed(self.name, type(exc).__name__, len(unwritten))
                    )
                    raise CounterFlushError(self.name, len(unwritten)) from exc
                except BaseException:
                    # Cancelled mid-write: keep the counts for the final flush.
                    self._restore(items[start:])
                    raise
                duration = self._clock.monotonic() - began
                total = sum(batch.values())
                self._listener.on_event(CountersFlushed(self.name, len(batch), total, duration))
                written += len(batch)
            return written

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Flush every ``interval_s`` (or when ``max_batch`` keys are pending) until ``stop``
        is set or the task is cancelled, then flush once more.

        A failing sink is reported (``CounterFlushFailed``) and retried a whole interval
        later, never fatal. If the final flush fails its counts stay in ``pending()``.
        """
        backing_off = False
        try:
            while stop is None or not stop.is_set():
                await self._wait(stop, early=not backing_off)
                try:
                    await self.flush()
                    backing_off = False
                except CounterFlushError:
                    backing_off = True
        finally:
            with contextlib.suppress(CounterFlushError):  # reported by its event
                await self.flush()

    async def _wait(self, stop: asyncio.Event | None, *, early: bool) -> None:
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._clock.sleep(self.interval_s))
        ]
        if early:
            waiters.append(asyncio.ensure_future(self._due.wait()))
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _restore(self, unwritten: list[tuple[str, int]]) -> None:
        pending = self._pending
        dropped = dropped_total = 0
        for key, count in unwritten:
            if key in pending:
                pending[key] += count
            elif len(pending) < self.max_pending_keys:
                pending[key] = count
            else:
                dropped += 1
                dropped_total += count
        if dropped:
            self._listener.on_event(CountersDropped(self.name, dropped, dropped_total))

    def _report_refused(self) -> None:
        if self._refused_calls:
            event = CountersDropped(self.name, self._refused_calls, self._refused_total)
            self._refused_calls = self._refused_total = 0
            self._listener.on_event(event)
