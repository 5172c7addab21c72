"""Write-behind counters: batching, merge on failure, bounded loss, flush on shutdown (§8.2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.cache.errors import CacheConfigurationError
from bazaar.kernel.cache.write_behind import (
    CounterFlushError,
    CounterFlushFailed,
    CounterListener,
    CountersDropped,
    CountersFlushed,
    CounterSink,
    InMemoryCounterSink,
    RecordingCounterListener,
    WriteBehindCounter,
)
from bazaar.kernel.clock import ManualClock


class FailingSink:
    """Raises for the first ``failures`` calls (all of them by default), then writes."""

    def __init__(self, failures: int = 10**9, *, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("database down")
        self.calls: list[dict[str, int]] = []
        self.written = InMemoryCounterSink()

    async def flush(self, counts: Mapping[str, int]) -> None:
        self.calls.append(dict(counts))
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        await self.written.flush(counts)


class SteppedClock(ManualClock):
    """A manual clock whose ``sleep`` waits for ``step()``: a loop never runs ahead of a test."""

    def __init__(self) -> None:
        super().__init__()
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((seconds, wake))
        await wake

    def step(self) -> None:
        """Let every sleeper wake, advancing the clock by the longest sleep."""
        sleepers, self._sleepers = self._sleepers, []
        self.advance(max((seconds for seconds, _ in sleepers), default=0.0))
        for _, wake in sleepers:
            if not wake.done():
                wake.set_result(None)


async def settle() -> None:
    """Let the other tasks run until they block again (event-loop turns, not wall time)."""
    for _ in range(20):
        await asyncio.sleep(0)


def counter(
    sink: CounterSink,
    clock: ManualClock | None = None,
    *,
    listener: CounterListener | None = None,
    interval_s: float = 5.0,
    max_batch: int = 3,
    max_pending_keys: int = 10,
) -> WriteBehindCounter:
    return WriteBehindCounter(
        "views",
        sink,
        clock or ManualClock(),
        interval_s=interval_s,
        max_batch=max_batch,
        max_pending_keys=max_pending_keys,
        listener=listener,
    )


class TestConfiguration:
    @pytest.mark.parametrize(
        ("arguments", "key"),
        [
            ({"interval_s": 0.0}, "interval_s"),
            ({"max_batch": 0}, "max_batch"),
            ({"max_batch": 10, "max_pending_keys": 9}, "max_pending_keys"),
        ],
    )
    def test_refuses_numbers_out_of_range(self, arguments: dict[str, Any], key: str) -> None:
        with pytest.raises(CacheConfigurationError) as raised:
            WriteBehindCounter("views", InMemoryCounterSink(), ManualClock(), **arguments)
        assert raised.value.key == key

    def test_the_shipped_fakes_implement_the_ports(self) -> None:
        assert isinstance(InMemoryCounterSink(), CounterSink)
        assert isinstance(RecordingCounterListener(), CounterListener)


class TestFlush:
    async def test_many_increments_become_one_write_per_key(self) -> None:
        sink = InMemoryCounterSink()
        views = counter(sink, max_batch=10)
        for _ in range(1_000):
            views.incr("product:1")
        views.incr("product:2", by=5)

        assert views.pending() == {"product:1": 1_000, "product:2": 5}
        assert await views.flush() == 2

        assert sink.batches == [{"product:1": 1_000, "product:2": 5}]
        assert views.pending() == {}
        assert await views.flush() == 0
        assert len(sink.batches) == 1

    async def test_hands_the_sink_batches_of_at_most_max_batch_keys(self) -> None:
        sink = InMemoryCounterSink()
        listener = RecordingCounterListener()
        views = counter(sink, listener=listener, max_batch=3)
        for i in range(7):
            views.incr(f"p{i}", by=i + 1)

        assert await views.flush() == 7

        assert [len(batch) for batch in sink.batches] == [3, 3, 1]
        assert sink.totals == {f"p{i}": i + 1 for i in range(7)}
        flushed = listener.of_type(CountersFlushed)
        assert [(e.keys, e.total) for e in flushed] == [(3, 6), (3, 15), (1, 7)]

    async def test_reports_how_long_each_write_took_on_the_injected_clock(self) -> None:
        clock = ManualClock()
        listener = RecordingCounterListener()

        class SlowSink(InMemoryCounterSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                clock.advance(0.25)
                await super().flush(counts)

        views = counter(SlowSink(), clock, listener=listener)
        views.incr("a")
        await views.flush()
        assert listener.events == [CountersFlushed("views", 1, 1, 0.25)]

    async def test_skips_keys_whose_increments_cancel_out(self) -> None:
        sink = InMemoryCounterSink()
        views = counter(sink)
        views.incr("liked", 1)
        views.incr("liked", -1)
        views.incr("kept", 2)
        assert await views.flush() == 1
        assert sink.totals == {"kept": 2}


class TestFailure:
    async def test_a_failed_write_puts_the_counts_back_merged_with_new_ones(self) -> None:
        listener = RecordingCounterListener()
        views: WriteBehindCounter

        class FailsWhileTrafficArrives(FailingSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                views.incr("a", 10)  # an increment that lands while the write is in flight
                views.incr("c")
                await super().flush(counts)

        views = counter(FailsWhileTrafficArrives(failures=1), listener=listener)
        views.incr("a", 2)
        views.incr("b", 3)

        with pytest.raises(CounterFlushError) as raised:
            await views.flush()

        assert (raised.value.name, raised.value.keys) == ("views", 2)
        assert isinstance(raised.value.__cause__, ConnectionError)
        assert views.pending() == {"a": 12, "b": 3, "c": 1}
        assert listener.events == [CounterFlushFailed("views", "ConnectionError", 2)]

    async def test_the_next_flush_writes_what_the_failed_one_could_not(self) -> None:
        sink = FailingSink(failures=1)
        views = counter(sink)
        views.incr("a", 2)
        with pytest.raises(CounterFlushError):
            await views.flush()
        views.incr("a", 1)
        assert await views.flush() == 1
        assert sink.written.totals == {"a": 3}

    async def test_batches_before_the_failure_stay_written_and_the_rest_come_back(self) -> None:
        class FailsSecondCall(FailingSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                self.failures = 1 if len(self.calls) == 1 else 0
                await super().flush(counts)

        sink = FailsSecondCall()
        views = counter(sink, max_batch=2)
        for key in "abcde":
            views.incr(key)

        with pytest.raises(CounterFlushError) as raised:
            await views.flush()

        assert sink.written.totals == {"a": 1, "b": 1}
        assert raised.value.keys == 3
        assert views.pending() == {"c": 1, "d": 1, "e": 1}

    async def test_keys_beyond_the_bound_are_dropped_and_reported(self) -> None:
        listener = RecordingCounterListener()
        views: WriteBehindCounter

        class FailsUnderNewTraffic(FailingSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                for key in ("n1", "n2", "n3"):
                    views.incr(key)
                await super().flush(counts)

        views = counter(FailsUnderNewTraffic(), listener=listener, max_batch=4, max_pending_keys=4)
        for key, count in (("a", 1), ("b", 2), ("c", 3), ("d", 4)):
            views.incr(key, count)

        with pytest.raises(CounterFlushError):
            await views.flush()

        # Three new keys arrived during the write; one old key fits back, three are lost.
        assert views.pending() == {"n1": 1, "n2": 1, "n3": 1, "a": 1}
        assert listener.of_type(CountersDropped) == [CountersDropped("views", 3, 9)]

    async def test_a_new_key_is_refused_while_pending_is_full_and_reported_at_the_flush(
        self,
    ) -> None:
        listener = RecordingCounterListener()
        sink = InMemoryCounterSink()
        views = counter(sink, listener=listener, max_batch=2, max_pending_keys=2)
        views.incr("a")
        views.incr("b")
        views.incr("c", 7)  # refused: two keys are already held
        views.incr("a", 4)  # a held key still adds up
        assert views.pending() == {"a": 5, "b": 1}

        await views.flush()

        assert listener.events[0] == CountersDropped("views", 1, 7)
        assert sink.totals == {"a": 5, "b": 1}

    async def test_cancelled_mid_write_keeps_the_counts(self) -> None:
        started = asyncio.Event()

        class HangingSink:
            async def flush(self, counts: Mapping[str, int]) -> None:
                started.set()
                await asyncio.Event().wait()

        views = counter(HangingSink())
        views.incr("a", 3)
        task = asyncio.create_task(views.flush())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert views.pending() == {"a": 3}


class TestRun:
    async def test_flushes_every_interval_on_the_injected_clock(self) -> None:
        clock = SteppedClock()
        sink = InMemoryCounterSink()
        views = counter(sink, clock, interval_s=2.0, max_batch=100, max_pending_keys=100)
        task = asyncio.create_task(views.run())
        await settle()
        views.incr("a")
        await settle()
        assert sink.batches == []  # the interval has not passed

        clock.step()
        await settle()
        assert sink.batches == [{"a": 1}]
        assert clock.sleeps == [2.0, 2.0]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def test_flushes_early_when_max_batch_keys_are_pending(self) -> None:
        clock = SteppedClock()
        sink = InMemoryCounterSink()
        views = counter(sink, clock, max_batch=3)
        task = asyncio.create_task(views.run())
        await settle()
        for key in "abc":
            views.incr(key)
        await settle()

        assert sink.batches == [{"a": 1, "b": 1, "c": 1}]
        assert clock.monotonic() == 0.0  # no interval passed
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def test_a_failing_sink_is_retried_a_whole_interval_later_not_at_once(self) -> None:
        clock = SteppedClock()
        listener = RecordingCounterListener()
        sink = FailingSink(failures=1)
        views = counter(sink, clock, listener=listener, max_batch=2)
        task = asyncio.create_task(views.run())
        await settle()
        views.incr("a")
        views.incr("b")  # reaches max_batch: an early flush, which fails
        await settle()
        assert len(sink.calls) == 1
        views.incr("c")
        await settle()
        assert len(sink.calls) == 1  # backing off: pending is full, but no hot retry

        clock.step()
        await settle()
        assert sink.written.totals == {"a": 1, "b": 1, "c": 1}
        assert len(listener.of_type(CounterFlushFailed)) == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def test_cancelling_flushes_what_is_pending_once_more(self) -> None:
        clock = SteppedClock()
        sink = InMemoryCounterSink()
        views = counter(sink, clock, max_batch=100, max_pending_keys=100)
        task = asyncio.create_task(views.run())
        await settle()
        views.incr("a", 4)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert sink.totals == {"a": 4}
        assert views.pending() == {}

    async def test_setting_stop_flushes_once_more_and_returns(self) -> None:
        clock = SteppedClock()
        sink = InMemoryCounterSink()
        views = counter(sink, clock, max_batch=100, max_pending_keys=100)
        stop = asyncio.Event()
        task = asyncio.create_task(views.run(stop))
        await settle()
        views.incr("a", 4)
        stop.set()
        await task
        assert sink.totals == {"a": 4}

    async def test_a_write_cancelled_at_shutdown_is_retried_by_the_final_flush(self) -> None:
        clock = SteppedClock()
        started = asyncio.Event()

        class HangsOnce(InMemoryCounterSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                if not started.is_set():
                    started.set()
                    await asyncio.Event().wait()
                await super().flush(counts)

        sink = HangsOnce()
        views = counter(sink, clock, max_batch=1)
        task = asyncio.create_task(views.run())
        await settle()
        views.incr("a", 2)
        await started.wait()

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sink.totals == {"a": 2}

    async def test_a_final_flush_that_fails_leaves_the_counts_pending_and_reported(self) -> None:
        listener = RecordingCounterListener()
        views = counter(FailingSink(), SteppedClock(), listener=listener)
        task = asyncio.create_task(views.run())
        await settle()
        views.incr("a")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert views.pending() == {"a": 1}
        assert listener.events == [CounterFlushFailed("views", "ConnectionError", 1)]


increments = st.lists(
    st.tuples(st.sampled_from([f"k{i}" for i in range(12)]), st.integers(-5, 1_000)),
    max_size=300,
)


def expected_totals(done: list[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, by in done:
        totals[key] = totals.get(key, 0) + by
    return {key: total for key, total in totals.items() if total}


def without_zeros(totals: dict[str, int]) -> dict[str, int]:
    return {key: total for key, total in totals.items() if total}


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(done=increments, flush_every=st.integers(1, 50), max_batch=st.integers(1, 12))
    async def test_with_a_healthy_sink_the_flushed_sums_equal_the_increments(
        self, done: list[tuple[str, int]], flush_every: int, max_batch: int
    ) -> None:
        sink = InMemoryCounterSink()
        views = counter(sink, max_batch=max_batch, max_pending_keys=12)
        for i, (key, by) in enumerate(done, start=1):
            views.incr(key, by)
            if i % flush_every == 0:
                await views.flush()
        await views.flush()
        assert without_zeros(sink.totals) == expected_totals(done)
        assert all(len(batch) <= max_batch for batch in sink.batches)

    @settings(max_examples=200, deadline=None)
    @given(done=increments, outcomes=st.lists(st.booleans(), max_size=40))
    async def test_within_the_bound_a_failing_sink_loses_nothing(
        self, done: list[tuple[str, int]], outcomes: list[bool]
    ) -> None:
        remaining = list(outcomes)

        class FlakySink(InMemoryCounterSink):
            async def flush(self, counts: Mapping[str, int]) -> None:
                if remaining and not remaining.pop():
                    raise TimeoutError
                await super().flush(counts)

        sink = FlakySink()
        views = counter(sink, max_batch=4, max_pending_keys=12)  # every key fits
        for i, (key, by) in enumerate(done, start=1):
            views.incr(key, by)
            if i % 7 == 0:
                with contextlib.suppress(CounterFlushError):
                    await views.flush()
        while True:
            try:
                await views.flush()
                break
            except CounterFlushError:
                continue
        assert without_zeros(sink.totals) == expected_totals(done)
