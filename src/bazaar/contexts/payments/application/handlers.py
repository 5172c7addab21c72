"""Command handler for payments: authorize + capture at the PSP, then record the outcome once.

The PSP call runs outside any transaction: holding a write transaction (on SQLite, the
database's single write lock) across a network call would serialize every writer behind the
slowest PSP answer. The claimed key makes the call safe to repeat instead: its PSP key is
derived from it, so a request that is retried, taken over or resumed reaches the PSP with
the same key and gets the same authorization back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bazaar.contexts.payments.application.keys import KeyTicket, Render, complete_key
from bazaar.contexts.payments.application.ports import (
    AuthorizationRequest,
    IdGenerator,
    ProviderAuthorization,
    ProviderAuthorizationStatus,
)
from bazaar.contexts.payments.application.provider_calls import GuardedProvider
from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain import events
from bazaar.contexts.payments.domain.errors import ProviderRuleError
from bazaar.contexts.payments.domain.model import Payment, PaymentStatus, provider_key
from bazaar.kernel.clock import Clock
from bazaar.kernel.idempotency import StoredResponse
from bazaar.kernel.money import Money

__all__ = ["PaymentsDependencies", "create_payment"]


@dataclass(frozen=True, slots=True)
class PaymentsDependencies:
    """What handlers use besides the unit of work."""

    ids: IdGenerator
    clock: Clock
    psp: GuardedProvider

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)


def _status(authorization: ProviderAuthorization) -> PaymentStatus:
    if authorization.status is ProviderAuthorizationStatus.CAPTURED:
        return PaymentStatus.SUCCEEDED
    if authorization.status is ProviderAuthorizationStatus.DECLINED:
        return PaymentStatus.DECLINED
    # Asked with capture=true, the PSP answers captured or declined; anything else is a bug
    # on one side, and recording it as either would be a guess.
    raise ProviderRuleError(
        "unexpected_status", f"authorization {authorization.id} is {authorization.status}"
    )


async def create_payment(
    cmd: cmds.CreatePayment,
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    ticket: KeyTicket,
    render: Render[Payment],
) -> StoredResponse:
    """Charge the card once and record the payment with its stored response, atomically.

    A decline is an outcome like a success: recorded, stored and replayed.

    Raises:
        ProviderRefusalError: the PSP refused the request (nothing recorded).
        DependencyUnavailableError: the PSP is unavailable (breaker open, or nothing charged).
        PaymentOutcomeUnknownError: the PSP may have charged; a retry with the key will tell.
        IdempotencyLockLostError: another request took the key over; it records the payment.
    """
    key = provider_key(cmd.tenant_id, cmd.user_id, ticket.key)
    request = AuthorizationRequest(
        amount=cmd.amount,
        card_token=cmd.card_token,
        # Deterministic, so every attempt with this key is the same request to the PSP.
        reference=f"{cmd.tenant_id}:{cmd.user_id}",
        capture=True,
    )
    authorization = await deps.psp.authorize(request, key)
    status = _status(authorization)
    now = deps.now()
    candidate = Payment(
        id=deps.ids.next_id(),
        tenant_id=cmd.tenant_id,
        user_id=cmd.user_id,
        amount=cmd.amount,
        status=status,
        psp_authorization_id=authorization.id,
        provider_key=key,
        decline_code=authorization.decline_code,
        description=cmd.description,
        refunded=Money.zero(cmd.amount.currency),
        captured_at=authorization.captured_at if status is PaymentStatus.SUCCEEDED else None,
        created_at=now,
        updated_at=now,
    )
    async with uow:
        # Recorded already when this key was used more than 24 h ago (our record of the key
        # expired, the PSP's did not, and it answered with the same authorization).
        existing = await uow.payments.get_by_provider_key(cmd.tenant_id, key)
        payment = existing or candidate
        response = render(payment)
        # The key first: if the lock was lost, nothing below is written.
        await complete_key(uow, ticket, response, deps.clock.now())
        if existing is None:
            await uow.payments.add(payment)
            uow.events.append(_payment_event(payment, deps.ids.next_id(), now))
        await uow.commit()
    return response


def _payment_event(payment: Payment, event_id: int, now: datetime) -> events.PaymentsEvent:
    if payment.status is PaymentStatus.SUCCEEDED:
        return events.PaymentSucceeded(
            id=event_id,
            occurred_at=now,
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            user_id=payment.user_id,
            amount=payment.amount,
        )
    return events.PaymentDeclined(
        id=event_id,
        occurred_at=now,
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        user_id=payment.user_id,
        decline_code=payment.decline_code,
    )
