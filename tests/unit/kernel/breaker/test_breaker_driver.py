"""Tests for CircuitBreaker: calls, guards, exclusions, cancellation, events and the registry."""

from __future__ import annotations

import asyncio

import pytest

from bazaar.kernel.breaker import (
    BreakerClosed,
    BreakerConfig,
    BreakerError,
    BreakerHalfOpened,
    BreakerOpened,
    BreakerRegistry,
    BreakerSnapshot,
    BreakerState,
    BreakerStoreError,
    BreakerStoreFailed,
    CallFailed,
    CallRejected,
    CallSucceeded,
    CircuitBreaker,
    CircuitOpenError,
    InMemoryBreakerStore,
    NullListener,
    Outcome,
    Permit,
    RecordingListener,
    Transition,
    TransitionReason,
)
from bazaar.kernel.breaker.ports import BreakerStore, LocalBreakerStore
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError, KernelError

START = 1_700_000_000.0
CONFIG = BreakerConfig(minimum_calls=100, consecutive_failures=3, cooldown_s=30.0)


class Declined(Exception):
    """A business answer from the dependency, not a failure of it."""


class Dependency:
    """An async fake dependency that counts its calls and fails on demand."""

    def __init__(self, clock: ManualClock, *, takes_s: float = 0.0) -> None:
        self.clock = clock
        self.takes_s = takes_s
        self.calls = 0
        self.error: BaseException | None = None

    async def __call__(self, value: int = 1, *, times: int = 1) -> int:
        self.calls += 1
        self.clock.advance(self.takes_s)
        if self.error is not None:
            raise self.error
        return value * times


def make(
    config: BreakerConfig = CONFIG, **kwargs: object
) -> tuple[CircuitBreaker, ManualClock, RecordingListener]:
    clock = ManualClock(start=START)
    listener = RecordingListener()
    breaker = CircuitBreaker("psp", config, clock, listener=listener, **kwargs)  # type: ignore[arg-type]
    return breaker, clock, listener


async def fail(breaker: CircuitBreaker, clock: ManualClock, times: int) -> None:
    dependency = Dependency(clock)
    dependency.error = ConnectionError("down")
    for _ in range(times):
        with pytest.raises(ConnectionError):
            await breaker.call(dependency)


class TestCall:
    async def test_passes_arguments_and_returns_the_result(self) -> None:
        breaker, clock, _ = make()
        assert await breaker.call(Dependency(clock), 6, times=7) == 42

    async def test_an_error_propagates_unchanged_and_counts(self) -> None:
        breaker, clock, _ = make()
        dependency = Dependency(clock)
        error = ConnectionError("down")
        dependency.error = error
        with pytest.raises(ConnectionError) as raised:
            await breaker.call(dependency)
        assert raised.value is error
        assert (await breaker.snapshot()).consecutive_failures == 1

    async def test_an_open_breaker_rejects_without_calling(self) -> None:
        breaker, clock, _ = make()
        await fail(breaker, clock, 3)
        dependency = Dependency(clock)
        clock.advance(12.0)
        with pytest.raises(CircuitOpenError) as raised:
            await breaker.call(dependency)
        assert dependency.calls == 0
        assert (raised.value.name, raised.value.retry_after_s) == ("psp", 18.0)
        assert isinstance(raised.value, BreakerError)
        assert isinstance(raised.value, KernelError)

    async def test_a_probe_after_the_cooldown_closes_the_breaker(self) -> None:
        breaker, clock, _ = make()
        await fail(breaker, clock, 3)
        clock.advance(30.0)
        assert await breaker.call(Dependency(clock)) == 1
        assert (await breaker.snapshot()).state is BreakerState.CLOSED

    async def test_a_failed_probe_reopens_for_a_fresh_cooldown(self) -> None:
        breaker, clock, _ = make()
        await fail(breaker, clock, 3)
        clock.advance(30.0)
        await fail(breaker, clock, 1)
        with pytest.raises(CircuitOpenError) as raised:
            await breaker.call(Dependency(clock))
        assert raised.value.retry_after_s == 30.0

    async def test_a_slow_call_counts_as_a_failure(self) -> None:
        breaker, clock, listener = make(
            BreakerConfig(minimum_calls=100, consecutive_failures=2, slow_call_s=1.0)
        )
        slow = Dependency(clock, takes_s=1.5)
        assert await breaker.call(slow) == 1
        assert await breaker.call(slow) == 1
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        assert listener.of_type(CallFailed) == [CallFailed("psp", 1.5, "SlowCall")] * 2

    async def test_exactly_the_probe_count_runs_concurrently_when_half_open(self) -> None:
        breaker, clock, _ = make(
            BreakerConfig(minimum_calls=100, consecutive_failures=3, half_open_probes=2)
        )
        await fail(breaker, clock, 3)
        clock.advance(30.0)
        release = asyncio.Event()
        running = 0

        async def probe() -> None:
            nonlocal running
            running += 1
            await release.wait()

        tasks = [asyncio.create_task(breaker.call(probe)) for _ in range(6)]
        await asyncio.sleep(0)
        assert running == 2
        assert sum(t.done() for t in tasks) == 4
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(r, CircuitOpenError) for r in results) == 4
        assert (await breaker.snapshot()).state is BreakerState.CLOSED


class TestExclusions:
    async def test_excluded_exception_types_count_as_successes(self) -> None:
        breaker, clock, listener = make(excluded=(Declined,))
        dependency = Dependency(clock)
        dependency.error = Declined()
        for _ in range(5):
            with pytest.raises(Declined):
                await breaker.call(dependency)
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (
            BreakerState.CLOSED,
            5,
            0.0,
        )
        assert listener.of_type(CallSucceeded) == [CallSucceeded("psp", 0.0)] * 5

    async def test_an_exclusion_predicate_decides_per_exception(self) -> None:
        breaker, clock, _ = make(excluded=lambda exc: "decline" in str(exc))
        dependency = Dependency(clock)
        dependency.error = RuntimeError("card decline")
        with pytest.raises(RuntimeError):
            await breaker.call(dependency)
        dependency.error = RuntimeError("timeout")
        with pytest.raises(RuntimeError):
            await breaker.call(dependency)
        assert (await breaker.snapshot()).consecutive_failures == 1

    async def test_a_bare_exception_class_means_that_class_only(self) -> None:
        breaker, clock, _ = make(excluded=Declined)
        await fail(breaker, clock, 1)
        assert (await breaker.snapshot()).consecutive_failures == 1

    def test_anything_but_exception_types_is_refused(self) -> None:
        with pytest.raises(ConfigurationError) as raised:
            CircuitBreaker("psp", excluded=(Declined, "ValueError"))  # type: ignore[arg-type]
        assert raised.value.key == "excluded"


class TestCancellation:
    async def test_a_cancelled_call_is_not_a_failure(self) -> None:
        breaker, _, listener = make()

        async def hang() -> None:
            await asyncio.Event().wait()

        for _ in range(5):
            task = asyncio.create_task(breaker.call(hang))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.calls) == (BreakerState.CLOSED, 0)
        assert listener.events == []

    async def test_a_cancelled_probe_frees_its_slot(self) -> None:
        breaker, clock, _ = make()
        await fail(breaker, clock, 3)
        clock.advance(30.0)

        async def hang() -> None:
            await asyncio.Event().wait()

        probe = asyncio.create_task(breaker.call(hang))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError):
            await breaker.call(Dependency(clock))
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert await breaker.call(Dependency(clock)) == 1
        assert (await breaker.snapshot()).state is BreakerState.CLOSED


class TestEvents:
    async def test_a_full_cycle_emits_its_events_in_order(self) -> None:
        breaker, clock, listener = make()
        await fail(breaker, clock, 3)
        with pytest.raises(CircuitOpenError):
            await breaker.call(Dependency(clock))
        clock.advance(30.0)
        await breaker.call(Dependency(clock, takes_s=0.25))
        assert listener.events == [
            CallFailed("psp", 0.0, "ConnectionError"),
            CallFailed("psp", 0.0, "ConnectionError"),
            CallFailed("psp", 0.0, "ConnectionError"),
            BreakerOpened("psp", 1.0, 3, TransitionReason.CONSECUTIVE_FAILURES),
            CallRejected("psp"),
            BreakerHalfOpened("psp"),
            CallSucceeded("psp", 0.25),
            BreakerClosed("psp"),
        ]

    async def test_a_failed_probe_reports_why_it_reopened(self) -> None:
        breaker, clock, listener = make()
        await fail(breaker, clock, 3)
        clock.advance(30.0)
        listener.clear()
        await fail(breaker, clock, 1)
        assert listener.events == [
            BreakerHalfOpened("psp"),
            CallFailed("psp", 0.0, "ConnectionError"),
            # The window's figures at that moment: the failures that first opened it are
            # more than a window (10 s) old by the end of the cooldown.
            BreakerOpened("psp", 0.0, 0, TransitionReason.PROBE_FAILED),
        ]

    async def test_the_null_listener_is_the_default(self) -> None:
        clock = ManualClock(start=START)
        breaker = CircuitBreaker("psp", CONFIG, clock)
        await fail(breaker, clock, 3)  # emits to NullListener without effect
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        NullListener().on_event(CallRejected("psp"))


class TestGuard:
    async def test_async_guard_counts_the_block_as_one_call(self) -> None:
        breaker, clock, listener = make()
        for _ in range(3):
            with pytest.raises(ConnectionError):
                async with breaker.guard():
                    clock.advance(0.5)
                    raise ConnectionError("down")
        with pytest.raises(CircuitOpenError):
            async with breaker.guard():
                pytest.fail("the block must not run")
        assert listener.of_type(CallFailed)[0] == CallFailed("psp", 0.5, "ConnectionError")

    def test_sync_guard_on_an_in_process_store_needs_no_event_loop(self) -> None:
        clock = ManualClock(start=START)
        store = InMemoryBreakerStore(clock)
        breaker = CircuitBreaker("psp", CONFIG, clock, store=store)
        for _ in range(3):
            with pytest.raises(ConnectionError), breaker.guard():
                raise ConnectionError("down")
        with pytest.raises(CircuitOpenError), breaker.guard():
            pytest.fail("the block must not run")
        clock.advance(30.0)
        with breaker.guard():
            pass
        assert store.machine("psp", CONFIG).state is BreakerState.CLOSED

    def test_sync_guard_times_the_block_when_a_listener_listens(self) -> None:
        breaker, clock, listener = make()
        with breaker.guard():
            clock.advance(0.75)
        assert listener.events == [CallSucceeded("psp", 0.75)]

    def test_sync_guard_on_a_shared_store_is_refused(self) -> None:
        breaker = CircuitBreaker("psp", CONFIG, store=SharedStore())
        with pytest.raises(ConfigurationError) as raised, breaker.guard():
            pass
        assert raised.value.key == "store"
        assert "LocalBreakerStore" in raised.value.reason


class SharedStore:
    """A store without the in-process capability: the breaker must await every decision."""

    def __init__(
        self, clock: ManualClock | None = None, *, broken: bool = False, broken_record: bool = False
    ) -> None:
        self.inner = InMemoryBreakerStore(clock or ManualClock(start=START))
        self.broken = broken
        self.broken_record = broken or broken_record
        self.records = 0

    async def acquire(self, name: str, config: BreakerConfig) -> Permit:
        if self.broken:
            raise BreakerStoreError(name, "acquire") from ConnectionRefusedError()
        return await self.inner.acquire(name, config)

    async def record(
        self, name: str, config: BreakerConfig, permit: Permit, outcome: Outcome, duration_s: float
    ) -> Transition | None:
        self.records += 1
        if self.broken_record:
            raise BreakerStoreError(name, "record") from ConnectionRefusedError()
        return await self.inner.record(name, config, permit, outcome, duration_s)

    async def read(self, name: str, config: BreakerConfig) -> BreakerSnapshot:
        return await self.inner.read(name, config)


class TestSharedStore:
    def test_the_fake_is_a_store_without_the_in_process_capability(self) -> None:
        assert isinstance(SharedStore(), BreakerStore)
        assert not isinstance(SharedStore(), LocalBreakerStore)

    async def test_decisions_are_awaited_from_the_store(self) -> None:
        clock = ManualClock(start=START)
        store = SharedStore(clock)
        listener = RecordingListener()
        breaker = CircuitBreaker("psp", CONFIG, clock, store=store, listener=listener)
        await fail(breaker, clock, 3)
        with pytest.raises(CircuitOpenError):
            await breaker.call(Dependency(clock))
        clock.advance(30.0)
        async with breaker.guard():
            pass
        assert store.records == 4
        assert [type(e) for e in listener.events][-4:] == [
            CallRejected,
            BreakerHalfOpened,
            CallSucceeded,
            BreakerClosed,
        ]
        assert (await breaker.snapshot()).state is BreakerState.CLOSED

    async def test_a_failing_store_lets_calls_through_and_says_so(self) -> None:
        clock = ManualClock(start=START)
        listener = RecordingListener()
        breaker = CircuitBreaker(
            "psp", CONFIG, clock, store=SharedStore(broken=True), listener=listener
        )
        assert await breaker.call(Dependency(clock)) == 1
        assert listener.events == [
            BreakerStoreFailed("psp", "acquire", "ConnectionRefusedError"),
            CallSucceeded("psp", 0.0),
        ]

    async def test_a_store_failing_on_record_keeps_the_calls_own_outcome(self) -> None:
        clock = ManualClock(start=START)
        listener = RecordingListener()
        store = SharedStore(clock, broken_record=True)
        breaker = CircuitBreaker("psp", CONFIG, clock, store=store, listener=listener)
        dependency = Dependency(clock)
        dependency.error = ConnectionError("down")
        with pytest.raises(ConnectionError):
            await breaker.call(dependency)
        assert listener.events == [
            CallFailed("psp", 0.0, "ConnectionError"),
            BreakerStoreFailed("psp", "record", "ConnectionRefusedError"),
        ]


class TestSnapshot:
    async def test_reports_the_admin_fields(self) -> None:
        breaker, clock, _ = make(BreakerConfig(consecutive_failures=100))
        await breaker.call(Dependency(clock))
        await fail(breaker, clock, 1)
        assert await breaker.snapshot() == BreakerSnapshot(
            name="psp",
            state=BreakerState.CLOSED,
            failure_rate=0.5,
            calls=2,
            opened_at=None,
            consecutive_failures=1,
        )

    async def test_an_open_breaker_reports_when_it_opened(self) -> None:
        breaker, clock, _ = make()
        clock.advance(4.0)
        await fail(breaker, clock, 3)
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.opened_at) == (BreakerState.OPEN, START + 4.0)


class TestRegistry:
    async def test_builds_one_breaker_per_name_on_a_shared_store(self) -> None:
        clock = ManualClock(start=START)
        registry = BreakerRegistry(clock, configs={"psp": CONFIG})
        psp = registry.get_or_create("psp")
        assert registry.get_or_create("psp") is psp
        assert psp.config == CONFIG
        assert registry.get_or_create("smtp").config == BreakerConfig()
        assert psp.store is registry.get_or_create("smtp").store
        assert ("psp" in registry, "db" in registry, len(registry)) == (True, False, 2)
        assert [b.name for b in registry] == ["psp", "smtp"]
        assert registry.get("db") is None

    async def test_snapshots_are_sorted_by_name(self) -> None:
        clock = ManualClock(start=START)
        registry = BreakerRegistry(clock, default_config=CONFIG)
        for name in ("smtp", "psp", "broker"):
            registry.get_or_create(name)
        await fail(registry.get_or_create("psp"), clock, 3)
        snapshots = await registry.snapshots()
        assert [(s.name, s.state) for s in snapshots] == [
            ("broker", BreakerState.CLOSED),
            ("psp", BreakerState.OPEN),
            ("smtp", BreakerState.CLOSED),
        ]

    def test_a_different_config_for_an_existing_name_is_refused(self) -> None:
        registry = BreakerRegistry(ManualClock(start=START))
        registry.get_or_create("psp", CONFIG)
        assert registry.get_or_create("psp", CONFIG) is registry.get("psp")
        with pytest.raises(ConfigurationError) as raised:
            registry.get_or_create("psp", BreakerConfig())
        assert raised.value.key == "config"

    async def test_the_listener_hears_every_breaker(self) -> None:
        clock = ManualClock(start=START)
        listener = RecordingListener()
        registry = BreakerRegistry(clock, listener=listener, default_config=CONFIG)
        await fail(registry.get_or_create("psp"), clock, 3)
        await fail(registry.get_or_create("smtp"), clock, 3)
        assert [e.name for e in listener.of_type(BreakerOpened)] == ["psp", "smtp"]
