"""The contract of ``LeaseStore``: mutual exclusion, expiry, fencing tokens, on every adapter."""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

import pytest
from redis.asyncio import Redis
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.locks import (
    InMemoryLeaseStore,
    Lease,
    LeaseStore,
    RedisLeaseStore,
    SqlLeaseStore,
)

__all__ = [
    "CONTRACT_START",
    "InMemoryLeaseHarness",
    "LeaseStoreContract",
    "LeaseStoreHarness",
    "RedisLeaseHarness",
    "SqlLeaseHarness",
]

CONTRACT_START = 1_700_000_000.0
# Long enough that no case sees a lease expire unless it waits for it on purpose.
HOLD_S = 30.0
CONTENDERS = 20


class LeaseStoreHarness(Protocol):
    """What the suite needs from an adapter: stores on one shared state, and a way to wait.

    Every ``store()`` of one harness sees the same leases, as the processes of a deployment
    do (a new client or a new store object where that exists).
    """

    expiry_ttl_s: float
    """The TTL of the cases that wait for a lease to expire."""

    tolerance_s: float
    """How far ``expires_at`` may be from the harness's ``now() + ttl`` (0 on a manual clock)."""

    def store(self) -> LeaseStore:
        """A handle on this test's shared leases."""
        ...

    async def now(self) -> float:
        """The store's clock, in epoch seconds."""
        ...

    async def let_expire(self) -> None:
        """Let at least ``expiry_ttl_s`` pass on the store's clock."""
        ...


class InMemoryLeaseHarness:
    """``InMemoryLeaseStore`` on a ``ManualClock``; one store stands for the whole state."""

    expiry_ttl_s = 10.0
    tolerance_s = 0.0

    def __init__(self) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self._store = InMemoryLeaseStore(self.clock)

    def store(self) -> LeaseStore:
        return self._store

    async def now(self) -> float:
        return self.clock.now()

    async def let_expire(self) -> None:
        self.clock.advance(self.expiry_ttl_s)


class SqlLeaseHarness:
    """``SqlLeaseStore``s on one engine and table, all reading one ``ManualClock``.

    The caller creates (and drops) the table, so each test can have a table of its own.
    """

    expiry_ttl_s = 10.0
    tolerance_s = 0.0

    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self.clock = ManualClock(start=CONTRACT_START)
        self.engine = engine
        self.table = table

    def store(self) -> LeaseStore:
        return SqlLeaseStore(self.engine, self.table, self.clock)

    async def now(self) -> float:
        return self.clock.now()

    async def let_expire(self) -> None:
        self.clock.advance(self.expiry_ttl_s)


class RedisLeaseHarness:
    """``RedisLeaseStore``s on one real Redis, under a key prefix unique to the test.

    Each ``store()`` has its own client, like a separate process. Expiry runs on the server's
    clock, which a test cannot move: the expiry cases use a 0.2 s TTL and really wait.
    """

    expiry_ttl_s = 0.2
    tolerance_s = 1.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.key_prefix = f"bazaar:test:lease:{uuid.uuid4().hex}:"
        self._clients: list[Redis] = []

    def store(self) -> LeaseStore:
        return self.redis_store()

    def redis_store(self) -> RedisLeaseStore:
        """A store with its own client, as another process would have."""
        client = Redis.from_url(self.url)
        self._clients.append(client)
        return RedisLeaseStore(client, key_prefix=self.key_prefix)

    async def now(self) -> float:
        async with Redis.from_url(self.url) as client:
            seconds, micros = await client.time()
        return seconds + micros / 1e6

    async def let_expire(self) -> None:
        # Redis expires keys on its own clock; the margin covers its millisecond rounding.
        await asyncio.sleep(self.expiry_ttl_s + 0.05)

    async def aclose(self) -> None:
        """Delete this test's keys and close every client."""
        async with Redis.from_url(self.url) as client:
            keys = [key async for key in client.scan_iter(match=self.key_prefix + "*")]
            if keys:
                await client.delete(*keys)
        for client in self._clients:
            await client.aclose()
        self._clients.clear()


async def take(store: LeaseStore, name: str, holder: str, ttl_s: float = HOLD_S) -> Lease:
    """Acquire and insist that it was granted."""
    lease = await store.acquire(name, holder, ttl_s)
    assert lease is not None, f"{holder} was refused {name}"
    return lease


class LeaseStoreContract:
    """Subclass and provide a ``lease_harness`` fixture yielding a ``LeaseStoreHarness``.

    Each test uses its own lease name, so a harness may be shared between tests.
    """

    @pytest.fixture
    def name(self) -> str:
        return f"lease-{uuid.uuid4().hex[:8]}"

    # --- granting ---

    async def test_a_free_lease_is_granted_with_a_token_and_an_expiry(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        before = await lease_harness.now()
        lease = await take(store, name, "a")
        assert (lease.name, lease.holder) == (name, "a")
        assert lease.token >= 1
        assert lease.expires_at == pytest.approx(before + HOLD_S, abs=lease_harness.tolerance_s)
        assert await store.holder(name) == lease

    async def test_a_name_nobody_took_has_no_holder(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        assert await lease_harness.store().holder(name) is None

    async def test_another_holder_is_refused_while_the_lease_is_held(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        lease = await take(a, name, "a")
        assert await b.acquire(name, "b", HOLD_S) is None
        assert await b.holder(name) == lease

    async def test_leases_of_different_names_are_independent(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        await take(store, name, "a")
        other = await take(store, name + "-other", "b")
        assert other.holder == "b"

    async def test_the_same_holder_acquiring_again_renews_with_the_same_token(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        first = await take(lease_harness.store(), name, "a")
        again = await take(lease_harness.store(), name, "a", ttl_s=2 * HOLD_S)
        assert again.token == first.token
        assert again.expires_at > first.expires_at

    async def test_a_non_positive_or_infinite_ttl_is_refused(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        for ttl_s in (0.0, -1.0, float("inf"), float("nan")):
            with pytest.raises(ConfigurationError) as raised:
                await store.acquire(name, "a", ttl_s)
            assert raised.value.key == "ttl_s"
        assert await store.holder(name) is None

    # --- expiry ---

    async def test_an_expired_lease_goes_to_another_holder_with_a_larger_token(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        first = await take(a, name, "a", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        assert await a.holder(name) is None
        second = await take(b, name, "b")
        assert second.token > first.token
        assert await a.holder(name) == second

    async def test_the_same_holder_gets_a_new_token_after_its_lease_expired(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        first = await take(store, name, "a", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        again = await take(store, name, "a")
        assert again.token > first.token

    # --- renewal ---

    async def test_renew_extends_the_lease_and_keeps_its_token(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        lease = await take(store, name, "a")
        renewed = await store.renew(lease, 2 * HOLD_S)
        assert renewed is not None
        assert (renewed.name, renewed.holder, renewed.token) == (name, "a", lease.token)
        assert renewed.expires_at > lease.expires_at
        assert await store.holder(name) == renewed

    async def test_renew_after_another_holder_took_the_lease_is_refused(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        lease = await take(a, name, "a", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        successor = await take(b, name, "b")
        assert await a.renew(lease, HOLD_S) is None
        assert await a.holder(name) == successor

    async def test_renew_after_expiry_is_refused_even_if_nobody_took_the_lease(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        lease = await take(store, name, "a", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        assert await store.renew(lease, HOLD_S) is None
        assert await store.holder(name) is None

    async def test_renew_after_release_is_refused(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        lease = await take(store, name, "a")
        await store.release(lease)
        assert await store.renew(lease, HOLD_S) is None
        assert await store.holder(name) is None

    async def test_renew_with_an_older_token_of_the_same_holder_is_refused(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        old = await take(store, name, "a")
        await store.release(old)
        current = await take(store, name, "a")
        assert await store.renew(old, HOLD_S) is None
        assert await store.holder(name) == current

    # --- release ---

    async def test_release_frees_the_lease_for_another_holder_with_a_larger_token(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        lease = await take(a, name, "a")
        await a.release(lease)
        assert await a.holder(name) is None
        successor = await take(b, name, "b")
        assert successor.token > lease.token

    async def test_release_by_a_stale_holder_is_a_no_op(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        stale = await take(a, name, "a", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        successor = await take(b, name, "b")
        await a.release(stale)
        assert await a.holder(name) == successor
        assert await a.acquire(name, "a", HOLD_S) is None

    async def test_release_with_an_older_token_of_the_same_holder_is_a_no_op(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        old = await take(store, name, "a")
        await store.release(old)
        current = await take(store, name, "a")
        await store.release(old)
        assert await store.holder(name) == current

    async def test_releasing_twice_or_a_name_never_taken_is_harmless(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        store = lease_harness.store()
        lease = await take(store, name, "a")
        await store.release(lease)
        await store.release(lease)
        await store.release(Lease(name + "-never", "a", 1, lease.expires_at))
        assert await store.holder(name) is None

    # --- concurrency and fencing ---

    async def test_of_concurrent_acquirers_of_a_free_lease_exactly_one_wins(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        stores = [lease_harness.store() for _ in range(CONTENDERS)]
        results = await asyncio.gather(
            *(store.acquire(name, f"holder-{i}", HOLD_S) for i, store in enumerate(stores))
        )
        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert await stores[0].holder(name) == winners[0]

    async def test_of_concurrent_acquirers_of_an_expired_lease_exactly_one_wins(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        stale = await take(lease_harness.store(), name, "old", lease_harness.expiry_ttl_s)
        await lease_harness.let_expire()
        stores = [lease_harness.store() for _ in range(CONTENDERS)]
        results = await asyncio.gather(
            *(store.acquire(name, f"holder-{i}", HOLD_S) for i, store in enumerate(stores))
        )
        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert winners[0].token > stale.token
        assert await stores[0].holder(name) == winners[0]

    async def test_tokens_strictly_increase_each_time_the_lease_changes_hands(
        self, lease_harness: LeaseStoreHarness, name: str
    ) -> None:
        a, b = lease_harness.store(), lease_harness.store()
        tokens = []
        lease = await take(a, name, "a")
        tokens.append(lease.token)
        await a.release(lease)  # handover by release
        lease = await take(b, name, "b", lease_harness.expiry_ttl_s)
        tokens.append(lease.token)
        renewed = await take(b, name, "b", lease_harness.expiry_ttl_s)  # renewal: same token
        assert renewed.token == lease.token
        await lease_harness.let_expire()  # handover by expiry
        lease = await take(a, name, "a")
        tokens.append(lease.token)
        await a.release(lease)  # the same holder again, after a release
        lease = await take(a, name, "a")
        tokens.append(lease.token)
        assert tokens == sorted(set(tokens)), tokens
