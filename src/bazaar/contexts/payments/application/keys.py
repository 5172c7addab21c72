"""What a handler needs of a claimed Idempotency-Key: the ticket, and completing it in its UoW."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.kernel.idempotency import KeyTicket, StoredResponse

__all__ = ["KeyTicket", "Render", "complete_key"]

T = TypeVar("T")


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
