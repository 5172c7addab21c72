"""``LeaseKeeper`` on a ``ManualClock`` and the in-memory store: renewal, loss, standby, exit."""

from __future__ import annotations

import asyncio

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks import (
    InMemoryLeaseStore,
    KeeperState,
    Lease,
    LeaseKeeper,
    LeaseLostError,
    LeaseStoreError,
)

TTL = 30.0


class SteppedSleep:
    """The keeper's sleep, driven by the test: each sleep waits until ``step()`` ends it.

    ``step()`` advances the clock by the requested seconds, lets the keeper run one round
    and returns once it is asleep again, so every test reads the state between rounds.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.requested: list[float] = []
        self._pending: asyncio.Future[None] | None = None
        self._asleep = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        self._pending = asyncio.get_running_loop().create_future()
        self._asleep.set()
        await self._pending

    async def step(self) -> None:
        await self._asleep.wait()
        self._asleep.clear()
        pending, self._pending = self._pending, None
        assert pending is not None
        self.clock.advance(self.requested[-1])
        pending.set_result(None)
        await self._asleep.wait()


class ScriptedStore:
    """The in-memory store, with failures and slowness switched on by the test."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.inner = InMemoryLeaseStore(clock)
        self.failing: set[str] = set()
        self.call_takes_s = 0.0
        self.calls: list[str] = []

    def _enter(self, op: str, name: str) -> None:
        self.calls.append(op)
        self.clock.advance(self.call_takes_s)
        if op in self.failing:
            raise LeaseStoreError(name, op)

    async def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        self._enter("acquire", name)
        return await self.inner.acquire(name, holder, ttl_s)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        self._enter("renew", lease.name)
        return await self.inner.renew(lease, ttl_s)

    async def release(self, lease: Lease) -> None:
        self._enter("release", lease.name)
        await self.inner.release(lease)

    async def holder(self, name: str) -> Lease | None:
        return await self.inner.holder(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> ScriptedStore:
    return ScriptedStore(clock)


@pytest.fixture
def sleep(clock: ManualClock) -> SteppedSleep:
    return SteppedSleep(clock)


def keeper_for(
    store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep, holder: str = "me"
) -> LeaseKeeper:
    return LeaseKeeper(store, "relay", holder, TTL, clock=clock, sleep=sleep)


async def steal(store: ScriptedStore, lease: Lease) -> Lease:
    """Another process takes the lease (as after this one paused past its expiry)."""
    await store.inner.release(lease)
    taken = await store.inner.acquire(lease.name, "other", TTL)
    assert taken is not None
    return taken


class TestHolding:
    async def test_entering_acquires_at_once_and_exiting_releases(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            assert keeper.held
            lease = keeper.check()
            assert (lease.name, lease.holder, lease.token) == ("relay", "me", 1)
            assert await store.holder("relay") == lease
        assert [keeper.state] == [KeeperState.CLOSED]
        assert keeper.lease is None
        assert await store.holder("relay") is None

    async def test_renews_every_third_of_the_ttl_keeping_the_token(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        start = clock.now()
        async with keeper_for(store, clock, sleep) as keeper:
            first = keeper.check()
            await sleep.step()
            await sleep.step()
            lease = keeper.check()
        assert sleep.requested == [10.0, 10.0, 10.0]
        assert store.calls == ["acquire", "renew", "renew", "release"]
        assert lease.token == first.token
        assert lease.expires_at == start + 20.0 + TTL

    async def test_try_acquire_while_held_returns_the_lease_without_asking_the_store(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            assert await keeper.try_acquire() == keeper.lease
            assert store.calls == ["acquire"]

    async def test_the_default_sleep_is_the_clocks(
        self, store: ScriptedStore, clock: ManualClock
    ) -> None:
        async with LeaseKeeper(store, "relay", "me", TTL, clock=clock) as keeper:
            await asyncio.sleep(0)
            assert keeper.held
        assert clock.sleeps[0] == 10.0


class TestStandby:
    async def test_waits_on_standby_while_another_holds_the_lease_then_takes_it(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        other = await store.inner.acquire("relay", "other", 15.0)
        assert other is not None
        async with keeper_for(store, clock, sleep) as keeper:
            assert keeper.state is KeeperState.STANDBY
            assert keeper.lease is None
            await sleep.step()  # t=10: still the other's
            assert not keeper.held
            await sleep.step()  # t=20: the other's lease expired at 15
            lease = keeper.check()
        assert lease.token > other.token
        assert not keeper.lost.is_set()

    async def test_wait_acquired_returns_once_the_background_task_takes_the_lease(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        other = await store.inner.acquire("relay", "other", TTL)
        assert other is not None
        async with keeper_for(store, clock, sleep) as keeper:
            waiter = asyncio.create_task(keeper.wait_acquired())
            await sleep.step()
            assert not waiter.done()
            await store.inner.release(other)
            await sleep.step()
            lease = await waiter
            assert lease == keeper.lease

    async def test_wait_acquired_raises_when_the_keeper_closes(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        await store.inner.acquire("relay", "other", TTL)
        keeper = keeper_for(store, clock, sleep)
        await keeper.start()
        waiter = asyncio.create_task(keeper.wait_acquired())
        await asyncio.sleep(0)
        await keeper.aclose()
        with pytest.raises(LeaseLostError):
            await waiter

    async def test_a_store_error_on_acquire_leaves_the_keeper_on_standby(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        store.failing.add("acquire")
        async with keeper_for(store, clock, sleep) as keeper:
            assert keeper.state is KeeperState.STANDBY
            assert isinstance(keeper.last_error, LeaseStoreError)
            store.failing.clear()
            await sleep.step()
            assert keeper.held


class TestLoss:
    async def test_a_refused_renewal_is_a_loss_at_once(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            await steal(store, keeper.check())
            await sleep.step()
            assert keeper.lost.is_set()
            assert keeper.state is KeeperState.STANDBY
            with pytest.raises(LeaseLostError) as raised:
                keeper.check()
            assert (raised.value.name, raised.value.holder) == ("relay", "me")
        # Exiting after a loss releases nothing: the lease is the other holder's.
        holder = await store.holder("relay")
        assert holder is not None
        assert holder.holder == "other"

    async def test_store_errors_while_renewing_count_as_a_loss_only_once_the_expiry_passes(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            store.failing.add("renew")
            await sleep.step()  # t=10
            await sleep.step()  # t=20
            assert keeper.held
            assert not keeper.lost.is_set()
            assert isinstance(keeper.last_error, LeaseStoreError)
            clock.advance(9.9)
            assert keeper.held
            clock.advance(0.1)  # t=30: the expiry of the lease granted at t=0
            assert keeper.lease is None
            assert keeper.lost.is_set()

    async def test_a_renewal_that_succeeds_before_the_expiry_keeps_the_lease(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            token = keeper.check().token
            store.failing.add("renew")
            await sleep.step()  # t=10, failed
            store.failing.clear()
            await sleep.step()  # t=20, renewed to t=50
            clock.advance(29.0)
            assert keeper.check().token == token
            assert not keeper.lost.is_set()

    async def test_the_expiry_counts_from_before_the_call_that_granted_the_lease(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        store.call_takes_s = 5.0
        async with keeper_for(store, clock, sleep) as keeper:
            assert keeper.held
            clock.advance(24.9)  # 29.9 s after the call started
            assert keeper.held
            clock.advance(0.1)
            assert keeper.lease is None
            store.call_takes_s = 0.0

    async def test_after_a_loss_the_keeper_takes_the_lease_again_with_a_larger_token(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            first = keeper.check()
            stolen = await steal(store, first)
            await sleep.step()
            assert keeper.lost.is_set()
            await store.inner.release(stolen)
            await sleep.step()
            again = keeper.check()
            assert again.token > stolen.token > first.token
            assert not keeper.lost.is_set()

    async def test_exit_survives_a_failing_release_and_leaves_the_lease_to_expire(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        async with keeper_for(store, clock, sleep) as keeper:
            lease = keeper.check()
            store.failing.add("release")
        assert isinstance(keeper.last_error, LeaseStoreError)
        assert await store.holder("relay") == lease


class TestConfiguration:
    @pytest.mark.parametrize(
        ("ttl_s", "renew_every_s", "acquire_every_s", "key"),
        [
            (0.0, None, None, "ttl_s"),
            (float("nan"), None, None, "ttl_s"),
            (TTL, 0.0, None, "renew_every_s"),
            (TTL, TTL, None, "renew_every_s"),
            (TTL, None, -1.0, "acquire_every_s"),
        ],
    )
    def test_durations_it_cannot_work_with_are_refused(
        self,
        store: ScriptedStore,
        ttl_s: float,
        renew_every_s: float | None,
        acquire_every_s: float | None,
        key: str,
    ) -> None:
        with pytest.raises(ConfigurationError) as raised:
            LeaseKeeper(
                store,
                "relay",
                "me",
                ttl_s,
                renew_every_s=renew_every_s,
                acquire_every_s=acquire_every_s,
            )
        assert raised.value.key == key

    async def test_acquire_every_s_sets_the_pace_on_standby(
        self, store: ScriptedStore, clock: ManualClock, sleep: SteppedSleep
    ) -> None:
        await store.inner.acquire("relay", "other", TTL)
        keeper = LeaseKeeper(
            store, "relay", "me", TTL, clock=clock, sleep=sleep, acquire_every_s=2.0
        )
        async with keeper:
            await sleep.step()
        assert sleep.requested == [2.0, 2.0]
