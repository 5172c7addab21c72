"""Ports of the saga block: the log, the transaction a step runs in, the step handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeAlias, TypeVar

from bazaar.kernel.saga.model import SagaRecord

__all__ = [
    "SagaListener",
    "SagaLog",
    "SagaTransaction",
    "StepHandler",
    "TransactionT",
    "TransitionHook",
]


class SagaLog(Protocol):
    """The persisted saga log, inside the caller's transaction (it never commits).

    Every write is checked against the record's ``version`` and stores ``version + 1``, so
    two runners (or a runner and a cancel) can never both act on what they read.
    ``owner``/``lease_until`` say which process drives a saga, and until when.
    """

    async def insert(
        self, saga: SagaRecord, *, owner: str | None, lease_until: float
    ) -> SagaRecord:
        """Store a new saga (its ``version`` must be 0); returns it at version 1."""
        ...

    async def save(self, saga: SagaRecord, *, owner: str, lease_until: float) -> SagaRecord:
        """Store ``saga`` over the version it was read at; returns it at the next version.

        Raises:
            SagaConflictError: the stored version is not ``saga.version``.
        """
        ...

    async def update(self, saga: SagaRecord) -> SagaRecord:
        """Store a change made by someone who does not drive the saga (a cancel request).

        Checked by version like ``save``; the owner and the lease stay as they are.

        Raises:
            SagaConflictError: the stored version is not ``saga.version``.
        """
        ...

    async def get(self, saga_id: int) -> SagaRecord | None: ...

    async def claim(self, saga_id: int, *, owner: str, now: float, lease_until: float) -> bool:
        """Take the lease of an unfinished saga that nobody holds (or ``owner`` holds already)."""
        ...

    async def release(self, saga_id: int, *, owner: str) -> None:
        """Give the lease back (a clean shutdown), so another process resumes at once."""
        ...

    async def stale(self, *, now: float, limit: int) -> list[int]:
        """Unfinished sagas whose lease ran out, oldest lease first: to resume."""
        ...


class SagaTransaction(Protocol):
    """One transaction that holds the saga log (the context's unit of work provides it).

    The step's local effect and the saga log's update are written through the same
    transaction, so they commit together (capabilities §5.3).
    """

    @property
    def sagas(self) -> SagaLog: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


TransactionT = TypeVar("TransactionT", bound=SagaTransaction)

StepCall: TypeAlias = Callable[[SagaRecord, TransactionT], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class StepHandler(Generic[TransactionT]):
    """The code of one step: its action and its compensation.

    Both get the saga as last stored and the open transaction; the action returns values to
    merge into ``saga.data``. Both raise ``StepFailedError`` / ``StepRetryableError`` to say
    how they failed (any other exception counts as retryable).
    """

    action: StepCall[TransactionT]
    compensation: StepCall[TransactionT] | None = None


TransitionHook: TypeAlias = Callable[[SagaRecord, TransactionT], Awaitable[None]]
"""Called with the saga as it is about to be stored in a new state, in that transaction."""


class SagaListener(Protocol):
    """Observability port: receives the block's typed events (``bazaar.kernel.saga.events``)."""

    def on_event(self, event: object) -> None: ...
