"""The unit of work over one SQLAlchemy session: rolls back unless ``commit()`` runs.

Committing writes the events raised in the transaction to the outbox first, in the same
transaction (capabilities §6.1): the state change and its events commit together or not at
all, and the relay publishes them afterwards.
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self, TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.infra.db import messaging_tables
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.messaging.context import current_headers, notify_outbox_written
from bazaar.kernel.messaging.events import envelope_of
from bazaar.kernel.messaging.sqlalchemy import SqlInbox, write_outbox
from bazaar.kernel.observability import tracing

__all__ = ["SqlAlchemyUnitOfWork"]

EventT = TypeVar("EventT", bound=DomainEvent)


class SqlAlchemyUnitOfWork(Generic[EventT]):
    """Unit of Work pattern (Fowler; cosmicpython ch. 6) over one transaction.

    ``async with uow:`` opens a session; leaving the block without ``commit()`` rolls back,
    so a handler that raises half-way leaves nothing behind. Contexts subclass it to attach
    their repositories in ``_open()``. Events appended to ``events`` during a transaction
    are written to ``outbox`` by ``commit()``; ``inbox`` records handled message ids in the
    same transaction (for consumers).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock | None = None,
        outbox: Table = messaging_tables.outbox,
        inbox: Table = messaging_tables.inbox,
    ) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._clock = clock or SystemClock()
        self._outbox = outbox
        self._inbox_table = inbox
        self._written = 0
        self.events: list[EventT] = []
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside 'async with'")
        return self._session

    @property
    def inbox(self) -> SqlInbox:
        return SqlInbox(self.session, self._inbox_table)

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.committed = False
        self._open(self._session)
        self._written = len(self.events)
        return self

    def _open(self, session: AsyncSession) -> None:
        """Hook for subclasses: build repositories on the session."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self.committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def commit(self) -> None:
        raised = self.events[self._written :]
        if raised:
            # The producer span covers the rows' insert and the commit that publishes them;
            # its traceparent goes into every envelope, so consumers continue this trace.
            with tracing.tracer().start_as_current_span(
                "outbox write",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "bazaar.outbox",
                    "messaging.batch.message_count": len(raised),
                    "bazaar.event_types": sorted({event.type for event in raised}),
                },
                # A driver error's text can quote the statement's parameters: name its type.
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                headers = current_headers()
                try:
                    await write_outbox(
                        self.session,
                        self._outbox,
                        [envelope_of(event, headers) for event in raised],
                        self._clock.now(),
                    )
                    await self.session.commit()
                except BaseException as exc:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
        else:
            await self.session.commit()
        self._written = len(self.events)
        self.committed = True
        if raised:
            notify_outbox_written()

    async def rollback(self) -> None:
        await self.session.rollback()
        self._written = len(self.events)
