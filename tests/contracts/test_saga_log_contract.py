"""The saga log contract over every adapter: in memory, SQL on SQLite and on PostgreSQL.

Each SQL test gets a table of its own (``saga_table`` with a unique name), so the suite needs
no migration and never sees another test's sagas in the shared PostgreSQL database.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeAlias

import pytest
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.infra.db import create_database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.retry import RetryPolicy
from bazaar.kernel.saga import (
    InMemorySagaStore,
    InMemorySagaTransaction,
    SagaConflictError,
    SagaDefinition,
    SagaRecord,
    SagaRunner,
    SagaState,
    SagaTransaction,
    StepDefinition,
    StepFailedError,
    StepHandler,
    StepRecord,
    StepRetryableError,
    StepStatus,
)
from bazaar.kernel.saga.sqlalchemy import SqlSagaLog, saga_table

NOW = 1_700_000_000.0
CREATED = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

Transactions: TypeAlias = Callable[[], SagaTransaction]


class SqlSagaTransaction:
    """The smallest unit of work holding a ``SqlSagaLog``: rolls back unless committed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table) -> None:
        self._sessions = sessions
        self._table = table
        self._session: AsyncSession | None = None

    @property
    def sagas(self) -> SqlSagaLog:
        assert self._session is not None, "used outside 'async with'"
        return SqlSagaLog(self._session, self._table)

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        await self._session.close()  # rolls back what was not committed
        self._session = None

    async def commit(self) -> None:
        assert self._session is not None
        await self._session.commit()


def saga(
    saga_id: int,
    state: SagaState = SagaState.RUNNING,
    *,
    steps: tuple[StepRecord, ...] | None = None,
) -> SagaRecord:
    return SagaRecord(
        id=saga_id,
        name="checkout",
        tenant_id=5,
        state=state,
        steps=steps or (StepRecord("reserve"), StepRecord("pay")),
        data={"order_id": saga_id},
        version=0,
        created_at=CREATED,
        updated_at=CREATED,
    )


def rich_saga(saga_id: int) -> SagaRecord:
    """A record with every field set to something a lossy codec would get wrong."""
    return SagaRecord(
        id=saga_id,
        name="checkout",
        tenant_id=2**40,
        state=SagaState.COMPENSATING,
        steps=(
            StepRecord(
                "reserve",
                StepStatus.COMPENSATED,
                attempts=1,
                compensation_attempts=2,
                started_at=CREATED,
                finished_at=CREATED + timedelta(seconds=1, microseconds=7),
                error=None,
            ),
            StepRecord(
                "pay",
                StepStatus.FAILED,
                attempts=3,
                started_at=CREATED + timedelta(seconds=2),
                finished_at=CREATED + timedelta(seconds=9, microseconds=999999),
                error="déclinée: « insufficient funds » ✗",
            ),
            StepRecord("ship", StepStatus.SKIPPED),
            StepRecord("notify"),
        ),
        data={
            "order_id": 9,
            "amount": {"units": "12.50", "currency": "EUR"},
            "lines": [1, 2.5, True, None, "ü"],
            "empty": {},
        },
        version=0,
        created_at=CREATED,
        updated_at=CREATED + timedelta(seconds=10),
        failure_reason="card_declined",
        attention_reason="compensation of step 'pay' failed: psp down",
        cancel_reason="customer",
        next_attempt_at=CREATED + timedelta(seconds=12, microseconds=345678),
    )


async def insert(
    transactions: Transactions,
    record: SagaRecord,
    *,
    owner: str | None = None,
    lease_until: float = 0.0,
) -> SagaRecord:
    async with transactions() as tx:
        stored = await tx.sagas.insert(record, owner=owner, lease_until=lease_until)
        await tx.commit()
    return stored


async def get(transactions: Transactions, saga_id: int) -> SagaRecord | None:
    async with transactions() as tx:
        return await tx.sagas.get(saga_id)


async def save(
    transactions: Transactions, record: SagaRecord, *, owner: str = "a", lease_until: float = 0.0
) -> SagaRecord:
    async with transactions() as tx:
        saved = await tx.sagas.save(record, owner=owner, lease_until=lease_until)
        await tx.commit()
    return saved


async def claim(
    transactions: Transactions, saga_id: int, owner: str, *, now: float = NOW, lease_s: float = 30
) -> bool:
    async with transactions() as tx:
        claimed = await tx.sagas.claim(saga_id, owner=owner, now=now, lease_until=now + lease_s)
        await tx.commit()
    return claimed


async def stale(transactions: Transactions, *, now: float = NOW, limit: int = 100) -> list[int]:
    async with transactions() as tx:
        return await tx.sagas.stale(now=now, limit=limit)


class SagaLogContract:
    """What every ``SagaLog`` adapter does; subclasses provide ``transactions``."""

    # --- insert and get ---

    async def test_insert_stores_the_saga_at_version_one(self, transactions: Transactions) -> None:
        stored = await insert(transactions, saga(1))
        assert stored.version == 1
        assert stored == replace(saga(1), version=1)
        assert await get(transactions, 1) == stored

    async def test_get_round_trips_every_field(self, transactions: Transactions) -> None:
        record = rich_saga(2)
        await insert(transactions, record)
        loaded = await get(transactions, 2)
        assert loaded == replace(record, version=1)
        assert loaded is not None
        # Times come back as the same instants, timezone-aware.
        assert loaded.next_attempt_at == record.next_attempt_at
        assert loaded.steps[1].finished_at == record.steps[1].finished_at
        assert loaded.created_at.tzinfo is not None

    async def test_a_saga_without_optional_fields_round_trips(
        self, transactions: Transactions
    ) -> None:
        await insert(transactions, saga(3))
        loaded = await get(transactions, 3)
        assert loaded is not None
        assert (loaded.failure_reason, loaded.next_attempt_at, loaded.cancel_reason) == (
            None,
            None,
            None,
        )
        assert loaded.steps == (StepRecord("reserve"), StepRecord("pay"))

    async def test_an_unknown_saga_is_none(self, transactions: Transactions) -> None:
        assert await get(transactions, 404) is None

    async def test_insert_refuses_a_record_read_from_the_log(
        self, transactions: Transactions
    ) -> None:
        stored = await insert(transactions, saga(4))
        with pytest.raises(ValueError, match="stored already"):
            await insert(transactions, stored)

    # --- save ---

    async def test_save_stores_the_next_version(self, transactions: Transactions) -> None:
        stored = await insert(transactions, saga(10))
        changed = replace(stored, state=SagaState.COMPLETED, data={"done": True})
        saved = await save(transactions, changed)
        assert saved.version == 2
        assert await get(transactions, 10) == replace(changed, version=2)

    async def test_a_save_from_a_stale_version_conflicts(self, transactions: Transactions) -> None:
        read = await insert(transactions, saga(11))
        await save(transactions, replace(read, cancel_reason="customer"))
        with pytest.raises(SagaConflictError) as raised:
            await save(transactions, replace(read, state=SagaState.COMPLETED))
        assert raised.value.saga_id == 11
        assert raised.value.expected_version == 1
        stored = await get(transactions, 11)
        assert stored is not None
        assert (stored.version, stored.state, stored.cancel_reason) == (
            2,
            SagaState.RUNNING,
            "customer",
        )

    async def test_two_saves_from_one_read_in_one_transaction_conflict(
        self, transactions: Transactions
    ) -> None:
        read = await insert(transactions, saga(12))
        async with transactions() as tx:
            await tx.sagas.save(read, owner="a", lease_until=0.0)
            with pytest.raises(SagaConflictError):
                await tx.sagas.save(read, owner="a", lease_until=0.0)

    async def test_saving_a_saga_that_was_never_stored_conflicts(
        self, transactions: Transactions
    ) -> None:
        with pytest.raises(SagaConflictError):
            await save(transactions, replace(saga(13), version=1))

    async def test_a_transaction_reads_its_own_writes(self, transactions: Transactions) -> None:
        async with transactions() as tx:
            stored = await tx.sagas.insert(saga(14), owner="a", lease_until=NOW + 30)
            saved = await tx.sagas.save(
                replace(stored, cancel_reason="x"), owner="a", lease_until=NOW + 30
            )
            assert await tx.sagas.get(14) == saved
            await tx.commit()
        assert await get(transactions, 14) == saved

    # --- update: a change by someone who does not drive the saga ---

    async def test_update_stores_the_next_version_and_keeps_the_lease(
        self, transactions: Transactions
    ) -> None:
        read = await insert(transactions, saga(15), owner="a", lease_until=NOW + 30)
        async with transactions() as tx:
            updated = await tx.sagas.update(replace(read, cancel_reason="customer"))
            await tx.commit()
        assert updated.version == 2
        assert await get(transactions, 15) == updated
        # Still a's: b is refused, the sweep leaves it alone, a goes on.
        assert not await claim(transactions, 15, "b")
        assert await stale(transactions) == []
        assert await claim(transactions, 15, "a")

    async def test_update_keeps_a_lease_that_ran_out_run_out(
        self, transactions: Transactions
    ) -> None:
        read = await insert(transactions, saga(16), owner="a", lease_until=NOW - 1)
        async with transactions() as tx:
            await tx.sagas.update(replace(read, cancel_reason="customer"))
            await tx.commit()
        assert await stale(transactions) == [16]

    async def test_an_update_from_a_stale_version_conflicts(
        self, transactions: Transactions
    ) -> None:
        read = await insert(transactions, saga(17), owner="a", lease_until=NOW + 30)
        await save(transactions, read, owner="a", lease_until=NOW + 30)
        with pytest.raises(SagaConflictError):
            async with transactions() as tx:
                await tx.sagas.update(replace(read, cancel_reason="customer"))
                await tx.commit()
        with pytest.raises(SagaConflictError):
            async with transactions() as tx:
                await tx.sagas.update(replace(saga(18), version=1))
                await tx.commit()

    # --- claim and release ---

    async def test_a_saga_nobody_holds_can_be_claimed(self, transactions: Transactions) -> None:
        await insert(transactions, saga(20), owner=None)
        assert await claim(transactions, 20, "a")

    async def test_the_holder_claims_again_while_its_lease_holds(
        self, transactions: Transactions
    ) -> None:
        await insert(transactions, saga(21), owner="a", lease_until=NOW + 30)
        assert await claim(transactions, 21, "a")

    async def test_a_saga_held_by_another_cannot_be_claimed(
        self, transactions: Transactions
    ) -> None:
        await insert(transactions, saga(22), owner="a", lease_until=NOW + 30)
        assert not await claim(transactions, 22, "b")
        assert not await claim(transactions, 22, "b", now=NOW + 30)  # the lease's last instant
        stored = await get(transactions, 22)
        assert stored is not None
        assert stored.version == 1  # a refused claim writes nothing

    async def test_a_lease_that_ran_out_can_be_taken_over(self, transactions: Transactions) -> None:
        await insert(transactions, saga(23), owner="a", lease_until=NOW + 30)
        assert await claim(transactions, 23, "b", now=NOW + 30.5)
        # Now b holds it: a, come back, is refused.
        assert not await claim(transactions, 23, "a", now=NOW + 31)

    @pytest.mark.parametrize(
        "state", [SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.NEEDS_ATTENTION]
    )
    async def test_a_finished_saga_cannot_be_claimed(
        self, transactions: Transactions, state: SagaState
    ) -> None:
        await insert(transactions, saga(24, state), owner=None)
        assert not await claim(transactions, 24, "a")

    async def test_a_compensating_saga_can_be_claimed(self, transactions: Transactions) -> None:
        await insert(transactions, saga(25, SagaState.COMPENSATING), owner=None)
        assert await claim(transactions, 25, "a")

    async def test_an_unknown_saga_cannot_be_claimed(self, transactions: Transactions) -> None:
        assert not await claim(transactions, 404, "a")

    async def test_a_claim_moves_the_version_so_a_write_from_before_it_fails(
        self, transactions: Transactions
    ) -> None:
        read = await insert(transactions, saga(26), owner="a", lease_until=NOW + 30)
        assert await claim(transactions, 26, "b", now=NOW + 31)
        claimed = await get(transactions, 26)
        assert claimed is not None
        assert claimed.version == 2
        assert replace(claimed, version=1) == read  # only the version moved
        with pytest.raises(SagaConflictError):
            await save(transactions, replace(read, state=SagaState.COMPLETED))
        assert (await save(transactions, claimed)).version == 3

    async def test_a_released_saga_can_be_claimed_at_once(self, transactions: Transactions) -> None:
        await insert(transactions, saga(27), owner="a", lease_until=NOW + 30)
        async with transactions() as tx:
            await tx.sagas.release(27, owner="a")
            await tx.commit()
        assert await stale(transactions) == [27]
        assert await claim(transactions, 27, "b")

    async def test_only_the_holder_can_release(self, transactions: Transactions) -> None:
        await insert(transactions, saga(28), owner="a", lease_until=NOW + 30)
        async with transactions() as tx:
            await tx.sagas.release(28, owner="b")
            await tx.commit()
        assert not await claim(transactions, 28, "b")
        assert await stale(transactions) == []

    async def test_release_of_an_unknown_saga_does_nothing(
        self, transactions: Transactions
    ) -> None:
        async with transactions() as tx:
            await tx.sagas.release(404, owner="a")
            await tx.commit()
        assert await get(transactions, 404) is None

    # --- stale ---

    async def test_stale_lists_unfinished_sagas_whose_lease_ran_out_oldest_first(
        self, transactions: Transactions
    ) -> None:
        await insert(transactions, saga(30), owner="a", lease_until=NOW - 5)
        await insert(transactions, saga(31), owner="a", lease_until=NOW + 30)  # still held
        await insert(transactions, saga(32, SagaState.COMPENSATING), owner="a", lease_until=NOW - 9)
        await insert(transactions, saga(33, SagaState.COMPLETED), owner="a", lease_until=NOW - 99)
        await insert(transactions, saga(34, SagaState.COMPENSATED), owner=None, lease_until=0.0)
        await insert(transactions, saga(35, SagaState.NEEDS_ATTENTION), owner="a", lease_until=1)
        await insert(transactions, saga(36), owner="a", lease_until=NOW)  # its last instant
        await insert(transactions, saga(37), owner=None, lease_until=0.0)

        assert await stale(transactions) == [37, 32, 30]

    async def test_stale_takes_at_most_limit_and_breaks_ties_by_id(
        self, transactions: Transactions
    ) -> None:
        for saga_id in (43, 41, 44, 42):
            await insert(transactions, saga(saga_id), owner="a", lease_until=NOW - 1)
        await insert(transactions, saga(40), owner="a", lease_until=NOW - 2)
        assert await stale(transactions, limit=3) == [40, 41, 42]
        assert await stale(transactions, limit=100) == [40, 41, 42, 43, 44]

    async def test_a_claimed_saga_is_no_longer_stale(self, transactions: Transactions) -> None:
        await insert(transactions, saga(45), owner="a", lease_until=NOW - 1)
        assert await stale(transactions) == [45]
        assert await claim(transactions, 45, "b")
        assert await stale(transactions) == []
        assert await stale(transactions, now=NOW + 31) == [45]

    # --- transactions ---

    async def test_a_transaction_that_is_not_committed_leaves_nothing(
        self, transactions: Transactions
    ) -> None:
        stored = await insert(transactions, saga(50), owner="a", lease_until=NOW - 1)
        async with transactions() as tx:
            await tx.sagas.insert(saga(51), owner="a", lease_until=NOW)
            assert await tx.sagas.claim(50, owner="b", now=NOW, lease_until=NOW + 30)
            claimed = await tx.sagas.get(50)
            assert claimed is not None
            finished = replace(claimed, state=SagaState.COMPLETED)
            await tx.sagas.save(finished, owner="b", lease_until=0)
        assert await get(transactions, 51) is None
        assert await get(transactions, 50) == stored
        assert await stale(transactions) == [50]

    async def test_a_transaction_goes_on_after_a_commit(self, transactions: Transactions) -> None:
        async with transactions() as tx:
            stored = await tx.sagas.insert(saga(53), owner="a", lease_until=NOW)
            await tx.commit()
            saved = await tx.sagas.save(
                replace(stored, cancel_reason="x"), owner="a", lease_until=NOW
            )
            await tx.commit()
        assert await get(transactions, 53) == saved

    async def test_a_transaction_that_raises_leaves_nothing(
        self, transactions: Transactions
    ) -> None:
        with pytest.raises(RuntimeError):
            async with transactions() as tx:
                await tx.sagas.insert(saga(52), owner="a", lease_until=NOW)
                raise RuntimeError("the step's effect failed")
        assert await get(transactions, 52) is None

    # --- the driver on the log ---

    async def test_a_runner_drives_a_saga_through_the_log(self, transactions: Transactions) -> None:
        clock = ManualClock(NOW)
        calls: list[str] = []
        pay_failures: list[Exception] = [StepRetryableError("psp down"), StepFailedError("no")]

        def handler(name: str) -> StepHandler[SagaTransaction]:
            async def action(record: SagaRecord, tx: SagaTransaction) -> Mapping[str, Any] | None:
                calls.append(f"do {name}")
                # What a step reads of the log inside its own transaction is the saga as run.
                assert await tx.sagas.get(record.id) is not None
                if name == "pay" and pay_failures:
                    raise pay_failures.pop(0)
                return {f"{name}_id": len(calls)}

            async def compensation(record: SagaRecord, tx: SagaTransaction) -> None:
                calls.append(f"undo {name}")

            return StepHandler(action, compensation)

        definition = SagaDefinition(
            "checkout",
            (
                StepDefinition("reserve"),
                StepDefinition(
                    "pay",
                    write_ahead=True,
                    retry=RetryPolicy(max_attempts=3, base_delay_s=2, max_delay_s=2),
                ),
                StepDefinition("ship"),
            ),
        )
        runner = SagaRunner(
            definition,
            {step.name: handler(step.name) for step in definition.steps},
            transactions,
            owner="proc-a",
            clock=clock,
            rng=random.Random(3),
        )
        async with transactions() as tx:
            await runner.start(tx, 70, 5, {"order_id": 70})
            await tx.commit()

        done = await runner.run(70)

        assert calls == ["do reserve", "do pay", "do pay", "undo pay", "undo reserve"]
        assert done is not None
        assert done.state is SagaState.COMPENSATED
        assert await get(transactions, 70) == done
        assert done.data == {"order_id": 70, "reserve_id": 1}
        assert [(s.status, s.attempts) for s in done.steps] == [
            (StepStatus.COMPENSATED, 1),
            (StepStatus.COMPENSATED, 2),
            (StepStatus.SKIPPED, 0),
        ]
        assert done.failure_reason == "step_failed"
        assert 0 < sum(clock.sleeps) <= 2 + 1e-6  # the one retry's jittered wait
        assert await stale(transactions, now=clock.now() + 3600) == []


class TestInMemorySagaLogContract(SagaLogContract):
    @pytest.fixture
    def transactions(self) -> Transactions:
        store = InMemorySagaStore()
        return lambda: InMemorySagaTransaction(store)


class TestSqlSagaLogContract(SagaLogContract):
    @pytest.fixture
    async def transactions(self, database_url: str) -> AsyncIterator[Transactions]:
        database = create_database(database_url)
        metadata = MetaData()
        table = saga_table(metadata, f"sagas_{uuid.uuid4().hex[:12]}")
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            try:
                yield lambda: SqlSagaTransaction(database.sessions, table)
            finally:
                async with database.engine.begin() as conn:
                    await conn.run_sync(metadata.drop_all)
        finally:
            await database.dispose()


class TestInMemorySagaTransaction:
    async def test_the_first_of_two_overlapping_writers_wins(self) -> None:
        store = InMemorySagaStore()
        await insert(lambda: InMemorySagaTransaction(store), saga(60))
        first, second = InMemorySagaTransaction(store), InMemorySagaTransaction(store)
        async with first, second:
            read_first = await first.sagas.get(60)
            read_second = await second.sagas.get(60)
            assert read_first is not None
            assert read_second is not None
            await first.sagas.save(read_first, owner="a", lease_until=0)
            await second.sagas.save(read_second, owner="b", lease_until=0)
            await first.commit()
            with pytest.raises(SagaConflictError) as raised:
                await second.commit()
        assert raised.value.expected_version == 1
        assert first.committed
        assert not second.committed
        assert store.rows[60].owner == "a"

    async def test_it_is_usable_only_inside_async_with(self) -> None:
        transaction = InMemorySagaTransaction(InMemorySagaStore())
        with pytest.raises(RuntimeError):
            transaction.sagas  # noqa: B018
        with pytest.raises(RuntimeError):
            await transaction.commit()


class TestSagaTable:
    def test_the_table_is_named_by_the_caller_and_indexed_for_the_sweep(self) -> None:
        table = saga_table(MetaData(), "sagas_x")
        assert table.name == "sagas_x"
        assert [c.name for c in table.primary_key.columns] == ["id"]
        [index] = table.indexes
        assert [c.name for c in index.columns] == ["state", "lease_until"]

    def test_the_default_name(self) -> None:
        assert saga_table(MetaData()).name == "sagas"
