"""What a handler needs of a claimed Idempotency-Key: the ticket, and completing it in its UoW."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.kernel.idempotency import StoredResponse

__all__ = ["KeyTicket", "Render", "complete_key"]

T = TypeVar("T")


class KeyTicket(Protocol):
    """A key the caller claimed before the operation (``bazaar.api.idempotency`` makes one)."""

    @property
    def scope(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def lock_token(self) -> str: ...


# A pure function from an operation's outcome to the response stored for replays; the API
# layer supplies it, so handlers store a response without knowing HTTP.
Render = Callable[[T], StoredResponse]


async def complete_key(
    uow: PaymentsUnitOfWork, ticket: KeyTicket, response: StoredResponse, now: float
) -> None:
    """Store ``response`` for the key, inside ``uow``'s transaction (atomic with the effect).

    Raises:
        IdempotencyLockLostError: another request took the key over; nothing may commit.
    """
    await uow.idempotency.complete(ticket.scope, ticket.key, ticket.lock_token, response, now)
