"""EventSourcedRepository and Upcasters over the in-memory store: loading, snapshots,
point-in-time reads, upcasting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.eventstore import (
    EventData,
    EventSourcedRepository,
    InMemoryEventStore,
    NewEvent,
    RecordedEvent,
    Upcasters,
    WrongExpectedVersionError,
)

START = 1_800_000_000.0


@dataclass(frozen=True)
class Wallet:
    balance: int = 0
    moves: int = 0


def apply(wallet: Wallet, event: RecordedEvent) -> Wallet:
    sign = 1 if event.type == "Deposited" else -1
    return Wallet(wallet.balance + sign * int(event.data["amount"]), wallet.moves + 1)


def to_snapshot(wallet: Wallet) -> EventData:
    return {"balance": wallet.balance, "moves": wallet.moves}


def from_snapshot(data: EventData) -> Wallet:
    return Wallet(int(data["balance"]), int(data["moves"]))


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str, amount: int) -> NewEvent:
        self.n += 1
        return NewEvent(f"e{self.n}", kind, {"amount": amount})


def wallets(snapshot_every: int = 0, *, version: int = 1) -> EventSourcedRepository[Wallet]:
    return EventSourcedRepository(
        initial=Wallet,
        apply=apply,
        snapshot_every=snapshot_every,
        snapshot_version=version,
        to_snapshot=to_snapshot,
        from_snapshot=from_snapshot,
    )


async def deposit_each(
    repo: EventSourcedRepository[Wallet],
    store: InMemoryEventStore,
    amounts: list[int],
    ids: Ids,
) -> None:
    for amount in amounts:
        loaded = await repo.load(store, "w", snapshots=store)
        await repo.append(store, "w", loaded, [ids("Deposited", amount)], snapshots=store)


class TestLoadAndAppend:
    async def test_an_unknown_stream_loads_as_the_initial_state_at_version_zero(self) -> None:
        loaded = await wallets().load(InMemoryEventStore(), "w")
        assert (loaded.state, loaded.version, loaded.replayed) == (Wallet(), 0, 0)

    async def test_appended_events_fold_into_the_state_and_load_back_the_same(self) -> None:
        store, repo, ids = InMemoryEventStore(), wallets(), Ids()
        loaded = await repo.load(store, "w")
        after = await repo.append(store, "w", loaded, [ids("Deposited", 10), ids("Withdrawn", 3)])
        assert (after.state, after.version) == (Wallet(7, 2), 2)
        assert (after.replayed, after.from_snapshot) == (2, False)
        again = await repo.load(store, "w")
        assert (again.state, again.version, again.replayed) == (Wallet(7, 2), 2, 2)

    async def test_appending_from_a_stale_load_is_refused(self) -> None:
        store, repo, ids = InMemoryEventStore(), wallets(), Ids()
        stale = await repo.load(store, "w")
        await repo.append(store, "w", stale, [ids("Deposited", 1)])
        with pytest.raises(WrongExpectedVersionError):
            await repo.append(store, "w", stale, [ids("Deposited", 1)])

    async def test_a_past_version_or_moment_loads_the_state_then(self) -> None:
        clock = ManualClock(start=START)
        store, repo, ids = InMemoryEventStore(clock), wallets(2), Ids()
        for amount in (1, 2, 4, 8, 16):
            await deposit_each(repo, store, [amount], ids)
            clock.advance(60.0)
        as_of_version = await repo.load(store, "w", snapshots=store, to_version=3)
        assert (as_of_version.state, as_of_version.version) == (Wallet(7, 3), 3)
        # Version 2's snapshot serves it, one event is replayed on top.
        assert (as_of_version.from_snapshot, as_of_version.replayed) == (True, 1)
        as_of_time = await repo.load(store, "w", snapshots=store, until=START + 60.0 * 3)
        assert (as_of_time.state, as_of_time.from_snapshot) == (Wallet(15, 4), False)


class TestSnapshots:
    async def test_a_snapshot_is_taken_each_time_the_stream_crosses_a_multiple(self) -> None:
        store, repo, ids = InMemoryEventStore(), wallets(3), Ids()
        await deposit_each(repo, store, [1] * 7, ids)
        snapshot = await store.latest_snapshot("w")
        assert snapshot is not None
        assert (snapshot.stream_version, snapshot.state, snapshot.version) == (
            6,
            {"balance": 6, "moves": 6},
            1,
        )
        loaded = await repo.load(store, "w", snapshots=store)
        assert (loaded.state, loaded.version) == (Wallet(7, 7), 7)
        assert (loaded.from_snapshot, loaded.replayed) == (True, 1)
        after = await repo.append(store, "w", loaded, [ids("Deposited", 1)])
        assert (after.state, after.replayed, after.from_snapshot) == (Wallet(8, 8), 2, True)

    async def test_a_batch_crossing_a_multiple_snapshots_its_end(self) -> None:
        store, repo, ids = InMemoryEventStore(), wallets(3), Ids()
        loaded = await repo.load(store, "w", snapshots=store)
        batch = [ids("Deposited", 1) for _ in range(4)]
        await repo.append(store, "w", loaded, batch, snapshots=store)
        snapshot = await store.latest_snapshot("w")
        assert snapshot is not None
        assert snapshot.stream_version == 4

    async def test_a_snapshot_of_another_state_version_is_ignored(self) -> None:
        store, ids = InMemoryEventStore(), Ids()
        await deposit_each(wallets(2, version=1), store, [5, 5, 5], ids)
        loaded = await wallets(2, version=2).load(store, "w", snapshots=store)
        assert (loaded.state, loaded.from_snapshot, loaded.replayed) == (Wallet(15, 3), False, 3)

    @settings(max_examples=60, deadline=None)
    @given(
        amounts=st.lists(st.integers(-50, 50), min_size=0, max_size=40),
        every=st.integers(1, 7),
        batch=st.integers(1, 5),
    )
    def test_with_or_without_snapshots_a_stream_loads_the_same(
        self, amounts: list[int], every: int, batch: int
    ) -> None:
        async def scenario() -> None:
            store, snapshotting, ids = InMemoryEventStore(), wallets(every), Ids()
            for i in range(0, len(amounts), batch):
                loaded = await snapshotting.load(store, "w", snapshots=store)
                new = [
                    ids("Deposited" if a >= 0 else "Withdrawn", abs(a))
                    for a in amounts[i : i + batch]
                ]
                await snapshotting.append(store, "w", loaded, new, snapshots=store)
            fast = await snapshotting.load(store, "w", snapshots=store)
            slow = await wallets().load(store, "w")
            assert (fast.state, fast.version) == (slow.state, slow.version)
            assert fast.state.balance == sum(amounts)
            snapshot = await store.latest_snapshot("w")
            assert fast.from_snapshot == (snapshot is not None) == (len(amounts) >= every)
            assert fast.replayed == len(amounts) - (snapshot.stream_version if snapshot else 0)

        asyncio.run(scenario())

    def test_snapshots_without_both_codecs_are_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError) as refused:
            EventSourcedRepository(initial=Wallet, apply=apply, snapshot_every=10)
        assert refused.value.key == "snapshot_every"
        with pytest.raises(ConfigurationError):
            wallets(-1)


class TestUpcasters:
    def stored(self, version: int, data: EventData) -> RecordedEvent:
        return RecordedEvent("w", 1, 1, "e1", "Deposited", version, data, {}, START)

    def test_old_events_are_read_at_the_latest_version_one_step_at_a_time(self) -> None:
        upcasters = Upcasters()

        @upcasters.register("Deposited", 1)
        def cents(data: EventData) -> EventData:
            return {"amount_minor": data["amount"] * 100}

        @upcasters.register("Deposited", 2)
        def currency(data: EventData) -> EventData:
            return {**data, "currency": "EUR"}

        old = self.stored(1, {"amount": 3})
        assert upcasters.upcast(old).data == {"amount_minor": 300, "currency": "EUR"}
        assert upcasters.upcast(old).version == 3
        middle = self.stored(2, {"amount_minor": 5})
        assert upcasters.upcast(middle).data == {"amount_minor": 5, "currency": "EUR"}
        current = self.stored(3, {"amount_minor": 7, "currency": "USD"})
        assert upcasters.upcast(current) is current
        assert old.data == {"amount": 3}  # stored events are never rewritten

    def test_a_step_registered_twice_is_refused(self) -> None:
        upcasters = Upcasters()
        upcasters.register("Deposited", 1)(lambda data: data)
        with pytest.raises(ValueError, match="Deposited v1"):
            upcasters.register("Deposited", 1)(lambda data: data)

    async def test_the_repository_applies_upcast_events(self) -> None:
        upcasters = Upcasters()
        upcasters.register("Deposited", 1)(lambda data: {"amount": data["amount"] * 2})
        store = InMemoryEventStore()
        await store.append("w", [NewEvent("e1", "Deposited", {"amount": 4})], expected_version=0)
        repo = EventSourcedRepository(initial=Wallet, apply=apply, upcasters=upcasters)
        assert (await repo.load(store, "w")).state == Wallet(8, 1)
