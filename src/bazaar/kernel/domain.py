"""What every bounded context's domain shares: the event base and the unit-of-work port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ClassVar, Protocol, Self, TypeVar

__all__ = ["DomainEvent", "UnitOfWork"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every domain event: past-tense fact with ``type``, ``version`` and ``id``.

    Every bazaar event belongs to one tenant. Events carry ids, never credentials. The
    ``type`` names the schema and ``version`` its revision, for upcasting (capabilities §6.5).
    """

    type: ClassVar[str]
    version: ClassVar[int] = 1
    id: int
    occurred_at: datetime
    tenant_id: int

    @property
    def partition_key(self) -> str:
        """What the broker keeps order by: the aggregate this event is about.

        The tenant by default; events about one aggregate (a payment, an order) override it
        with that aggregate's id so its events are consumed in the order they happened.
        """
        return str(self.tenant_id)


EventT = TypeVar("EventT", bound=DomainEvent)


class UnitOfWork(Protocol[EventT]):
    """One transaction; rolls back unless ``commit()`` ran (cosmicpython ch. 6).

    Handlers append the events they raise to ``events``; the service hands them on once
    the transaction has committed. Contexts extend this port with their repositories.
    """

    events: list[EventT]
    committed: bool

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...
