"""The contract of ``BreakerStore``: every adapter decides exactly as ``BreakerMachine`` does."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from typing import Protocol

import pytest
from redis.asyncio import Redis

from bazaar.kernel.breaker import (
    Admission,
    BreakerConfig,
    BreakerMachine,
    BreakerOpened,
    BreakerState,
    BreakerStore,
    CircuitBreaker,
    CircuitOpenError,
    InMemoryBreakerStore,
    Outcome,
    Permit,
    RecordingListener,
    RedisBreakerStore,
    Transition,
    TransitionReason,
)
from bazaar.kernel.clock import ManualClock

__all__ = [
    "CONTRACT_START",
    "BreakerStoreContract",
    "BreakerStoreHarness",
    "InMemoryHarness",
    "RedisHarness",
]

# Whole seconds, so ManualClock readings fall on the same window-bucket boundaries for every
# adapter: the in-memory store buckets clock.monotonic() (from 0), Redis clock.now().
CONTRACT_START = 1_700_000_000.0

# Small numbers keep scenarios short; consecutive_failures is set high wherever a test is
# about the failure rate, and minimum_calls high where it is about consecutive failures.
RATE = BreakerConfig(
    failure_rate_threshold=0.5,
    minimum_calls=10,
    window_s=10.0,
    consecutive_failures=1000,
    cooldown_s=30.0,
)
CONSECUTIVE = BreakerConfig(minimum_calls=1000, consecutive_failures=5, cooldown_s=30.0)
PROBES = BreakerConfig(
    minimum_calls=1000, consecutive_failures=3, cooldown_s=30.0, half_open_probes=3
)


class BreakerStoreHarness(Protocol):
    """What the suite needs from an adapter: its stores, all on one shared state, and a clock.

    Every ``store()`` of one harness sees the same breakers, as the API processes of one
    deployment do; an adapter whose state is per process returns the same store each time.
    """

    clock: ManualClock

    def store(self) -> BreakerStore:
        """A handle on this test's shared breaker state (a new "process" where that exists)."""
        ...


class InMemoryHarness:
    """``InMemoryBreakerStore`` on a ``ManualClock``; one store stands for the whole state."""

    def __init__(self) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self._store = InMemoryBreakerStore(self.clock)

    def store(self) -> BreakerStore:
        return self._store


class RedisHarness:
    """``RedisBreakerStore``s on one real Redis, under a key prefix unique to the test.

    Each ``store()`` has its own client, like a separate API process. The script takes its
    time from the shared ``ManualClock`` instead of the server's ``TIME``, so cooldowns pass
    without sleeping. ``sync_interval_s`` is 0: every admission asks Redis, so decisions are
    exact (the local copy is tested on its own).
    """

    def __init__(self, url: str, *, sync_interval_s: float = 0.0) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self.key_prefix = f"bazaar:test:breaker:{uuid.uuid4().hex}:"
        self.url = url
        self._sync_interval_s = sync_interval_s
        self._clients: list[Redis] = []

    def store(self) -> BreakerStore:
        return self.redis_store()

    def redis_store(self, sync_interval_s: float | None = None) -> RedisBreakerStore:
        """A store with its own client, as another process would have."""
        client = Redis.from_url(self.url)
        self._clients.append(client)
        interval = self._sync_interval_s if sync_interval_s is None else sync_interval_s
        return RedisBreakerStore(
            client, key_prefix=self.key_prefix, sync_interval_s=interval, clock=self.clock
        )

    async def aclose(self) -> None:
        """Delete this test's keys and close every client."""
        if self._clients:
            client = self._clients[0]
            keys = [key async for key in client.scan_iter(match=self.key_prefix + "*")]
            if keys:
                await client.delete(*keys)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()


async def admit(store: BreakerStore, name: str, config: BreakerConfig) -> Permit:
    """Acquire a permit and insist that it admits the call."""
    permit = await store.acquire(name, config)
    assert permit.admission is not Admission.REJECT, f"{name}: rejected, {permit!r}"
    return permit


async def run_calls(
    store: BreakerStore, name: str, config: BreakerConfig, outcomes: str, duration_s: float = 0.0
) -> list[Transition]:
    """Make one admitted call per letter, ``s`` success or ``f`` failure; return transitions."""
    transitions = []
    for letter in outcomes:
        permit = await admit(store, name, config)
        outcome = Outcome.SUCCESS if letter == "s" else Outcome.FAILURE
        transition = await store.record(name, config, permit, outcome, duration_s)
        if transition is not None:
            transitions.append(transition)
    return transitions


async def open_breaker(store: BreakerStore, name: str, config: BreakerConfig) -> None:
    """Drive the breaker open with consecutive failures."""
    await run_calls(store, name, config, "f" * config.consecutive_failures)
    assert (await store.read(name, config)).state is BreakerState.OPEN


class BreakerStoreContract:
    """Subclass and provide a ``breaker_harness`` fixture yielding a ``BreakerStoreHarness``.

    Each test uses its own breaker name, so a harness may be shared between tests.
    """

    @pytest.fixture
    def name(self) -> str:
        return f"dep-{uuid.uuid4().hex[:8]}"

    # --- closed ---

    async def test_a_new_breaker_is_closed_and_admits(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        permit = await store.acquire(name, RATE)
        snapshot = await store.read(name, RATE)
        assert permit.admission is Admission.ALLOW
        assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (
            BreakerState.CLOSED,
            0,
            0.0,
        )
        assert snapshot.opened_at is None
        assert snapshot.name == name

    async def test_opens_when_the_failure_rate_reaches_the_threshold_over_minimum_calls(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        transitions = await run_calls(store, name, RATE, "sf" * 5)
        assert transitions == [
            Transition(
                BreakerState.CLOSED, BreakerState.OPEN, TransitionReason.FAILURE_RATE, 0.5, 10
            )
        ]
        snapshot = await store.read(name, RATE)
        assert snapshot.state is BreakerState.OPEN
        assert snapshot.opened_at == breaker_harness.clock.now()
        assert (snapshot.calls, snapshot.failure_rate) == (10, 0.5)

    async def test_stays_closed_below_minimum_calls_whatever_the_rate(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        assert await run_calls(store, name, RATE, "f" * 9) == []
        snapshot = await store.read(name, RATE)
        assert (snapshot.state, snapshot.calls, snapshot.failure_rate) == (
            BreakerState.CLOSED,
            9,
            1.0,
        )

    async def test_stays_closed_below_the_threshold(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        assert await run_calls(store, name, RATE, "ssfssfssfs" * 2) == []
        assert (await store.read(name, RATE)).failure_rate == 6 / 20

    async def test_opens_on_consecutive_failures(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        transitions = await run_calls(store, name, CONSECUTIVE, "fffff")
        assert [(t.to_state, t.reason) for t in transitions] == [
            (BreakerState.OPEN, TransitionReason.CONSECUTIVE_FAILURES)
        ]
        assert (await store.read(name, CONSECUTIVE)).consecutive_failures == 5

    async def test_a_success_resets_the_consecutive_count(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        assert await run_calls(store, name, CONSECUTIVE, "ffffsffff") == []
        assert (await store.read(name, CONSECUTIVE)).consecutive_failures == 4

    async def test_a_slow_success_counts_as_a_failure(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        config = BreakerConfig(minimum_calls=1000, consecutive_failures=3, slow_call_s=1.0)
        store = breaker_harness.store()
        assert await run_calls(store, name, config, "ss", duration_s=1.0) == []  # not over
        transitions = await run_calls(store, name, config, "sss", duration_s=1.5)
        assert [t.reason for t in transitions] == [TransitionReason.CONSECUTIVE_FAILURES]

    async def test_failures_leave_the_window_bucket_by_bucket(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await run_calls(store, name, RATE, "ffff")  # bucket 0
        clock.advance(5.0)
        await run_calls(store, name, RATE, "ss")  # bucket 5
        clock.advance(4.9)  # 9.9 s: bucket 9, both buckets still inside the 10 s window
        assert (await store.read(name, RATE)).calls == 6
        clock.advance(0.1)  # 10.0 s: bucket 10, bucket 0 has left
        snapshot = await store.read(name, RATE)
        assert (snapshot.calls, snapshot.failure_rate) == (2, 0.0)
        # Four fresh failures with two successes in the window: 4/6 over 10 calls is needed.
        assert await run_calls(store, name, RATE, "ffff") == []
        transitions = await run_calls(store, name, RATE, "ssff")
        assert [(t.reason, t.calls, t.failure_rate) for t in transitions] == [
            (TransitionReason.FAILURE_RATE, 10, 0.6)
        ]

    # --- open ---

    async def test_open_rejects_with_the_cooldown_left(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, CONSECUTIVE)
        clock.advance(12.5)
        permit = await store.acquire(name, CONSECUTIVE)
        assert permit.admission is Admission.REJECT
        assert permit.retry_after_s == pytest.approx(17.5)
        clock.advance(17.4)
        assert (await store.acquire(name, CONSECUTIVE)).admission is Admission.REJECT

    async def test_half_opens_after_the_cooldown_and_admits_exactly_the_probe_count(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, PROBES)
        clock.advance(30.0)
        permits = [await store.acquire(name, PROBES) for _ in range(5)]
        assert [p.admission for p in permits] == [Admission.PROBE] * 3 + [Admission.REJECT] * 2
        first = permits[0].transition
        assert first is not None
        assert (first.from_state, first.to_state, first.reason) == (
            BreakerState.OPEN,
            BreakerState.HALF_OPEN,
            TransitionReason.COOLDOWN_ELAPSED,
        )
        assert [p.transition for p in permits[1:]] == [None] * 4
        assert permits[-1].retry_after_s == 0.0
        assert (await store.read(name, PROBES)).state is BreakerState.HALF_OPEN

    # --- half-open ---

    async def test_closes_when_every_probe_succeeds_and_resets_the_window(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, PROBES)
        clock.advance(30.0)
        probes = [await admit(store, name, PROBES) for _ in range(3)]
        results = [await store.record(name, PROBES, p, Outcome.SUCCESS, 0.0) for p in probes]
        assert results[:2] == [None, None]
        assert results[2] == Transition(
            BreakerState.HALF_OPEN, BreakerState.CLOSED, TransitionReason.PROBES_SUCCEEDED
        )
        snapshot = await store.read(name, PROBES)
        assert (snapshot.state, snapshot.calls, snapshot.consecutive_failures) == (
            BreakerState.CLOSED,
            0,
            0,
        )
        assert snapshot.opened_at is None
        assert (await store.acquire(name, PROBES)).admission is Admission.ALLOW

    async def test_a_failed_probe_reopens_with_a_fresh_cooldown(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, PROBES)
        clock.advance(30.0)
        probes = [await admit(store, name, PROBES) for _ in range(3)]
        await store.record(name, PROBES, probes[0], Outcome.SUCCESS, 0.0)
        clock.advance(2.0)
        transition = await store.record(name, PROBES, probes[1], Outcome.FAILURE, 0.0)
        assert transition is not None
        assert (transition.from_state, transition.to_state, transition.reason) == (
            BreakerState.HALF_OPEN,
            BreakerState.OPEN,
            TransitionReason.PROBE_FAILED,
        )
        snapshot = await store.read(name, PROBES)
        assert snapshot.opened_at == clock.now()
        permit = await store.acquire(name, PROBES)
        assert permit.admission is Admission.REJECT
        assert permit.retry_after_s == pytest.approx(30.0)
        # The last probe of the failed round reports late: it changes nothing.
        assert await store.record(name, PROBES, probes[2], Outcome.SUCCESS, 0.0) is None
        assert (await store.read(name, PROBES)).state is BreakerState.OPEN

    async def test_a_cancelled_probe_frees_its_slot(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, CONSECUTIVE)  # one probe
        clock.advance(30.0)
        probe = await admit(store, name, CONSECUTIVE)
        assert (await store.acquire(name, CONSECUTIVE)).admission is Admission.REJECT
        assert await store.record(name, CONSECUTIVE, probe, Outcome.CANCELLED, 0.0) is None
        again = await admit(store, name, CONSECUTIVE)
        assert again.admission is Admission.PROBE
        assert (await store.read(name, CONSECUTIVE)).state is BreakerState.HALF_OPEN

    async def test_a_cancelled_call_while_closed_counts_nothing(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        for _ in range(10):
            permit = await admit(store, name, CONSECUTIVE)
            await store.record(name, CONSECUTIVE, permit, Outcome.CANCELLED, 0.0)
        snapshot = await store.read(name, CONSECUTIVE)
        assert (snapshot.state, snapshot.calls, snapshot.consecutive_failures) == (
            BreakerState.CLOSED,
            0,
            0,
        )

    async def test_an_unanswered_probe_round_starts_over_after_a_cooldown(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        await open_breaker(store, name, CONSECUTIVE)
        clock.advance(30.0)
        lost = await admit(store, name, CONSECUTIVE)  # its caller never reports
        clock.advance(29.9)
        assert (await store.acquire(name, CONSECUTIVE)).admission is Admission.REJECT
        clock.advance(0.1)
        fresh = await store.acquire(name, CONSECUTIVE)
        assert fresh.admission is Admission.PROBE
        assert fresh.transition is not None
        assert fresh.transition.reason is TransitionReason.PROBE_ROUND_EXPIRED
        # A late answer from the lost round counts for nothing; the fresh probe decides.
        assert await store.record(name, CONSECUTIVE, lost, Outcome.FAILURE, 0.0) is None
        closing = await store.record(name, CONSECUTIVE, fresh, Outcome.SUCCESS, 0.0)
        assert closing is not None
        assert closing.to_state is BreakerState.CLOSED

    async def test_outcomes_of_calls_admitted_before_a_transition_are_ignored(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store, clock = breaker_harness.store(), breaker_harness.clock
        in_flight = [await admit(store, name, CONSECUTIVE) for _ in range(3)]
        await open_breaker(store, name, CONSECUTIVE)
        assert await store.record(name, CONSECUTIVE, in_flight[0], Outcome.FAILURE, 0.0) is None
        clock.advance(30.0)
        probe = await admit(store, name, CONSECUTIVE)
        # Failures of calls admitted while closed must not reopen the half-open breaker.
        assert await store.record(name, CONSECUTIVE, in_flight[1], Outcome.FAILURE, 0.0) is None
        assert (await store.read(name, CONSECUTIVE)).state is BreakerState.HALF_OPEN
        await store.record(name, CONSECUTIVE, probe, Outcome.SUCCESS, 0.0)
        # Nor count against the fresh window once closed.
        assert await store.record(name, CONSECUTIVE, in_flight[2], Outcome.FAILURE, 0.0) is None
        snapshot = await store.read(name, CONSECUTIVE)
        assert (snapshot.state, snapshot.calls) == (BreakerState.CLOSED, 0)

    async def test_breakers_with_different_names_are_independent(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        store = breaker_harness.store()
        await open_breaker(store, name, CONSECUTIVE)
        other = name + "-other"
        assert (await store.acquire(other, CONSECUTIVE)).admission is Admission.ALLOW
        assert (await store.read(other, CONSECUTIVE)).state is BreakerState.CLOSED

    # --- many breakers on one shared state ---

    async def test_breakers_sharing_the_state_see_the_same_open_breaker(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        clock = breaker_harness.clock
        first = CircuitBreaker(name, CONSECUTIVE, clock, store=breaker_harness.store())
        second = CircuitBreaker(name, CONSECUTIVE, clock, store=breaker_harness.store())
        calls = 0

        async def failing() -> None:
            nonlocal calls
            calls += 1
            raise ConnectionError("down")

        for _ in range(5):
            with pytest.raises(ConnectionError):
                await first.call(failing)
        with pytest.raises(CircuitOpenError) as rejected:
            await second.call(failing)
        assert calls == 5
        assert rejected.value.retry_after_s == pytest.approx(30.0)
        snapshot = await second.snapshot()
        assert (snapshot.state, snapshot.opened_at) == (BreakerState.OPEN, clock.now())

    async def test_concurrent_half_open_admissions_across_breakers_admit_exactly_the_probes(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        clock = breaker_harness.clock
        breakers = [
            CircuitBreaker(name, PROBES, clock, store=breaker_harness.store()) for _ in range(3)
        ]
        await open_breaker(breaker_harness.store(), name, PROBES)
        clock.advance(30.0)
        release = asyncio.Event()
        all_decided = asyncio.Event()
        entered = decided = 0

        def decide() -> None:
            nonlocal decided
            decided += 1
            if decided == 20:
                all_decided.set()

        async def probe() -> str:
            nonlocal entered
            entered += 1
            decide()
            await release.wait()
            return "ok"

        async def attempt(i: int) -> str:
            try:
                return await breakers[i % 3].call(probe)
            except CircuitOpenError:
                decide()
                return "rejected"

        tasks = [asyncio.create_task(attempt(i)) for i in range(20)]
        # Every task decides: admitted ones park in probe() until released, others return.
        await asyncio.wait_for(all_decided.wait(), timeout=10)
        assert entered == PROBES.half_open_probes
        release.set()
        results = await asyncio.gather(*tasks)
        assert results.count("ok") == PROBES.half_open_probes
        assert results.count("rejected") == 20 - PROBES.half_open_probes
        assert (await breakers[0].snapshot()).state is BreakerState.CLOSED

    async def test_concurrent_failures_across_breakers_open_the_breaker_once(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        listeners = [RecordingListener() for _ in range(3)]
        breakers = [
            CircuitBreaker(
                name,
                CONSECUTIVE,
                breaker_harness.clock,
                store=breaker_harness.store(),
                listener=listener,
            )
            for listener in listeners
        ]

        async def failing() -> None:
            await asyncio.sleep(0)
            raise ConnectionError("down")

        async def attempt(i: int) -> None:
            with contextlib.suppress(ConnectionError, CircuitOpenError):
                await breakers[i % 3].call(failing)

        await asyncio.gather(*(attempt(i) for i in range(30)))
        opened = [e for listener in listeners for e in listener.of_type(BreakerOpened)]
        assert len(opened) == 1
        assert opened[0].reason is TransitionReason.CONSECUTIVE_FAILURES
        assert (await breakers[1].snapshot()).state is BreakerState.OPEN

    # --- the same rules as the pure core ---

    async def test_decides_as_the_pure_core_over_random_call_sequences(
        self, breaker_harness: BreakerStoreHarness, name: str
    ) -> None:
        # Seeded, so a failure replays. Times and bucket widths are multiples of 0.25 s:
        # exact in binary at any magnitude, so the adapter's clock (which may count from the
        # epoch) and the core's (which counts from 0) meet every boundary alike.
        rng = random.Random(1_700_000_000)
        clock = breaker_harness.clock
        for case in range(6):
            config = BreakerConfig(
                failure_rate_threshold=rng.choice([0.25, 0.5, 1.0]),
                minimum_calls=rng.randint(1, 5),
                window_s=rng.choice([1.0, 2.0, 5.0]),
                window_buckets=rng.choice([1, 2, 4]),
                consecutive_failures=rng.randint(1, 5),
                cooldown_s=rng.choice([0.5, 1.0, 2.5]),
                half_open_probes=rng.randint(1, 3),
                slow_call_s=rng.choice([None, 1.0]),
            )
            store, core, key = (
                breaker_harness.store(),
                BreakerMachine(config, clock),
                f"{name}-{case}",
            )
            in_flight: list[tuple[Permit, Permit]] = []
            for _ in range(60):
                action = rng.choice(["advance", "call", "call", "start", "finish"])
                if action == "advance":
                    clock.advance(rng.choice([0.0, 0.25, 0.5, 1.0, 2.5]))
                    continue
                if action == "finish":
                    if in_flight:
                        ours, theirs = in_flight.pop(rng.randrange(len(in_flight)))
                        await _settle_both(store, core, key, config, ours, theirs, rng)
                    continue
                ours, theirs = await store.acquire(key, config), core.acquire()
                assert (ours.admission, ours.retry_after_s, ours.transition) == (
                    theirs.admission,
                    theirs.retry_after_s,
                    theirs.transition,
                )
                if ours.admission is Admission.REJECT:
                    continue
                if action == "start":
                    in_flight.append((ours, theirs))
                else:
                    await _settle_both(store, core, key, config, ours, theirs, rng)
                snapshot, expected = await store.read(key, config), core.snapshot(key)
                assert snapshot == expected


async def _settle_both(
    store: BreakerStore,
    core: BreakerMachine,
    key: str,
    config: BreakerConfig,
    ours: Permit,
    theirs: Permit,
    rng: random.Random,
) -> None:
    outcome = rng.choice([Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE, Outcome.CANCELLED])
    duration = rng.choice([0.0, 0.0, 2.0])
    assert await store.record(key, config, ours, outcome, duration) == core.record(
        theirs, outcome, duration
    )
