"""The saga log in memory, with a transaction that stages writes until ``commit()``.

A real class with inspectable state (``InMemorySagaStore.rows``), for unit tests of sagas
and for adopters' tests; it passes the same contract suite as the SQL log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import TracebackType
from typing import Self

from bazaar.kernel.saga.errors import SagaConflictError
from bazaar.kernel.saga.model import SagaRecord

__all__ = ["InMemorySagaLog", "InMemorySagaStore", "InMemorySagaTransaction"]


@dataclass(slots=True)
class StoredSaga:
    record: SagaRecord
    owner: str | None
    lease_until: float


class InMemorySagaStore:
    """The committed state: saga id → stored saga."""

    def __init__(self) -> None:
        self.rows: dict[int, StoredSaga] = {}
        self.commits = 0


class InMemorySagaLog:
    """``SagaLog`` over a staging copy of the store (what a transaction sees)."""

    def __init__(self, rows: dict[int, StoredSaga]) -> None:
        self._rows = rows

    async def insert(
        self, saga: SagaRecord, *, owner: str | None, lease_until: float
    ) -> SagaRecord:
        if saga.version != 0 or saga.id in self._rows:
            raise ValueError(f"saga {saga.id} is stored already")
        stored = replace(saga, version=1)
        self._rows[saga.id] = StoredSaga(stored, owner, lease_until)
        return stored

    async def save(self, saga: SagaRecord, *, owner: str, lease_until: float) -> SagaRecord:
        current = self._rows.get(saga.id)
        if current is None or current.record.version != saga.version:
            raise SagaConflictError(saga.id, saga.version)
        stored = replace(saga, version=saga.version + 1)
        self._rows[saga.id] = StoredSaga(stored, owner, lease_until)
        return stored

    async def update(self, saga: SagaRecord) -> SagaRecord:
        current = self._rows.get(saga.id)
        if current is None or current.record.version != saga.version:
            raise SagaConflictError(saga.id, saga.version)
        stored = replace(saga, version=saga.version + 1)
        self._rows[saga.id] = StoredSaga(stored, current.owner, current.lease_until)
        return stored

    async def get(self, saga_id: int) -> SagaRecord | None:
        current = self._rows.get(saga_id)
        return None if current is None else current.record

    async def claim(self, saga_id: int, *, owner: str, now: float, lease_until: float) -> bool:
        current = self._rows.get(saga_id)
        if current is None or current.record.state.terminal:
            return False
        if current.owner not in (None, owner) and current.lease_until >= now:
            return False
        record = replace(current.record, version=current.record.version + 1)
        self._rows[saga_id] = StoredSaga(record, owner, lease_until)
        return True

    async def release(self, saga_id: int, *, owner: str) -> None:
        current = self._rows.get(saga_id)
        if current is not None and current.owner == owner:
            self._rows[saga_id] = StoredSaga(current.record, None, 0.0)

    async def stale(self, *, now: float, limit: int) -> list[int]:
        candidates = [
            (stored.lease_until, saga_id)
            for saga_id, stored in self._rows.items()
            if not stored.record.state.terminal and stored.lease_until < now
        ]
        return [saga_id for _, saga_id in sorted(candidates)[:limit]]


class InMemorySagaTransaction:
    """A transaction over ``InMemorySagaStore``: writes land only on ``commit()``."""

    def __init__(self, store: InMemorySagaStore) -> None:
        self._store = store
        self._staged: dict[int, StoredSaga] | None = None
        self._snapshot: dict[int, StoredSaga] = {}
        self.committed = False

    @property
    def sagas(self) -> InMemorySagaLog:
        if self._staged is None:
            raise RuntimeError("the transaction is used outside 'async with'")
        return InMemorySagaLog(self._staged)

    async def __aenter__(self) -> Self:
        self._snapshot = dict(self._store.rows)
        self._staged = dict(self._snapshot)
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._staged = None

    async def commit(self) -> None:
        if self._staged is None:
            raise RuntimeError("commit outside 'async with'")
        changed = {
            saga_id: stored
            for saga_id, stored in self._staged.items()
            if self._snapshot.get(saga_id) is not stored
        }
        # First committer wins, as a database's row versions make it: a row another
        # transaction changed since this one read it is a conflict.
        for saga_id in changed:
            read = self._snapshot.get(saga_id)
            if self._store.rows.get(saga_id) is not read:
                raise SagaConflictError(saga_id, 0 if read is None else read.record.version)
        self._store.rows.update(changed)
        # What is committed is what the next commit of this transaction is checked against
        # (a session goes on after commit() in a new transaction; so does this one).
        self._snapshot.update(changed)
        self._store.commits += 1
        self.committed = True
