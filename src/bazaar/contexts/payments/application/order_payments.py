"""Command handlers for a checkout saga's payment: authorize, then capture or void.

Each is safe to run again with the same arguments — a saga step is retried, and re-run
after a crash — because nothing here is decided twice:

* the PSP key of an authorization comes from the caller's ``operation_key``; the keys of
  its capture and void come from the payment (it has at most one of each), so a re-run
  reaches the PSP with the key of the first run and gets the first run's answer back;
* the local row is looked up first (a payment already authorized, captured or voided is
  returned without calling the PSP), and every transition is one conditional write from
  ``authorized``, so of two runs only one records it and raises its event.

As in ``handlers``, no transaction is held across a PSP call, and an outcome the PSP
cannot confirm is never guessed: ``GuardedProvider`` asks it about the key, and when
that fails too nothing is recorded (``PaymentOutcomeUnknownError``) — the retry, with the
same key, finds out.
"""

from __future__ import annotations

from datetime import datetime

from bazaar.contexts.payments.application.handlers import PaymentsDependencies
from bazaar.contexts.payments.application.ports import (
    AuthorizationRequest,
    ProviderAuthorization,
    ProviderAuthorizationStatus,
)
from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain import events
from bazaar.contexts.payments.domain.errors import (
    PaymentNotFoundError,
    PaymentNotVoidableError,
    ProviderKeyReusedError,
    ProviderRuleError,
)
from bazaar.contexts.payments.domain.model import (
    Payment,
    PaymentStatus,
    follow_up_key,
    operation_provider_key,
)
from bazaar.kernel.money import Money

__all__ = ["authorize_order_payment", "capture_payment", "void_payment"]

# The simulator's code for "this authorization is captured" (a capture or void refused).
ALREADY_CAPTURED = "already_captured"

_AUTHORIZE_ANSWERS = {
    ProviderAuthorizationStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    ProviderAuthorizationStatus.DECLINED: PaymentStatus.DECLINED,
}


async def authorize_order_payment(
    cmd: cmds.AuthorizeOrderPayment, uow: PaymentsUnitOfWork, deps: PaymentsDependencies
) -> Payment:
    """Authorize the order's amount on the card (no capture) and record the payment once.

    Returns:
        The payment, ``authorized`` or ``declined`` (a decline is an outcome, not an error);
        the one recorded before when the operation key was used already.

    Raises:
        ProviderKeyReusedError: the operation key already authorized another order or amount.
        ProviderRefusalError: the PSP refused the request (nothing recorded).
        DependencyUnavailableError: the PSP was not called (breaker open) or did nothing.
        PaymentOutcomeUnknownError: the PSP may have authorized; a re-run will tell.
    """
    key = operation_provider_key(cmd.tenant_id, cmd.operation_key)
    async with uow:
        existing = await uow.payments.get_by_provider_key(cmd.tenant_id, key)
    if existing is not None:
        return _same_order(existing, cmd, key)
    request = AuthorizationRequest(
        amount=cmd.amount,
        card_token=cmd.card_token,
        # Deterministic, so every run of this operation is the same request to the PSP.
        reference=f"{cmd.tenant_id}:{cmd.user_id}:order:{cmd.order_id}",
        capture=False,
    )
    authorization = await deps.psp.authorize(request, key)
    status = _AUTHORIZE_ANSWERS.get(authorization.status)
    if status is None:
        # Asked without capture, the PSP answers authorized or declined; anything else is a
        # bug on one side, and recording it as either would be a guess.
        raise _unexpected(authorization)
    now = deps.now()
    payment = Payment(
        id=deps.ids.next_id(),
        tenant_id=cmd.tenant_id,
        user_id=cmd.user_id,
        amount=cmd.amount,
        status=status,
        psp_authorization_id=authorization.id,
        provider_key=key,
        decline_code=authorization.decline_code,
        description=None,
        refunded=Money.zero(cmd.amount.currency),
        captured_at=None,
        created_at=now,
        updated_at=now,
        order_id=cmd.order_id,
    )
    async with uow:
        if not await uow.payments.add_unless_present(payment):
            recorded = await uow.payments.get_by_provider_key(cmd.tenant_id, key)
            assert recorded is not None  # payments are never deleted
            return _same_order(recorded, cmd, key)
        uow.events.append(_authorized_event(payment, deps.ids.next_id(), now))
        await uow.commit()
    return payment


async def capture_payment(
    tenant_id: int, payment_id: int, uow: PaymentsUnitOfWork, deps: PaymentsDependencies
) -> Payment:
    """Capture an authorized payment in full: ``authorized`` → ``succeeded``.

    Returns:
        The payment, ``succeeded`` (also when it was captured before).

    Raises:
        PaymentNotFoundError: no such payment in the tenant.
        PaymentNotCapturableError: it is declined or voided.
        ProviderRefusalError: the PSP refused the capture (nothing recorded).
        DependencyUnavailableError, PaymentOutcomeUnknownError: as for authorizing; the
            payment stays ``authorized`` and a re-run captures it (once).
    """
    payment = await _payment(uow, tenant_id, payment_id)
    if not payment.needs_capture():
        return payment
    return await _capture(uow, deps, payment)


async def void_payment(
    tenant_id: int, payment_id: int, uow: PaymentsUnitOfWork, deps: PaymentsDependencies
) -> Payment:
    """Release an authorized payment: ``authorized`` → ``voided``.

    Returns:
        The payment, ``voided`` — or unchanged when it was voided or declined already
        (nothing is held on the card either way).

    Raises:
        PaymentNotFoundError: no such payment in the tenant.
        PaymentNotVoidableError: it is captured — here, or at the PSP (a capture whose
            answer was lost): that capture is recorded first, so the caller can refund it.
        ProviderRefusalError: the PSP refused the void (nothing recorded).
        DependencyUnavailableError, PaymentOutcomeUnknownError: as for capturing.
    """
    payment = await _payment(uow, tenant_id, payment_id)
    if not payment.needs_void():
        return payment
    try:
        authorization = await deps.psp.void(
            payment.psp_authorization_id, follow_up_key(payment.provider_key, "void")
        )
    except ProviderRuleError as exc:
        if exc.code != ALREADY_CAPTURED:
            raise
        # Captured at the PSP but not here: a capture of ours whose answer was lost. Asking
        # again with the capture's own key replays it, so the capture is recorded and the
        # caller can refund it (a capture made by anyone else is refused: it stays visible).
        captured = await _capture(uow, deps, payment)
        raise PaymentNotVoidableError(payment.id, captured.status.value) from exc
    if authorization.status is not ProviderAuthorizationStatus.VOIDED:
        raise _unexpected(authorization)
    now = deps.now()
    async with uow:
        if await uow.payments.record_void(tenant_id, payment.id, now):
            uow.events.append(
                events.PaymentVoided(
                    id=deps.ids.next_id(),
                    occurred_at=now,
                    tenant_id=tenant_id,
                    payment_id=payment.id,
                    user_id=payment.user_id,
                    order_id=payment.order_id,
                    amount=payment.amount,
                )
            )
        voided = await uow.payments.get(tenant_id, payment.id)
        await uow.commit()
    assert voided is not None  # payments are never deleted
    return voided


async def _capture(
    uow: PaymentsUnitOfWork, deps: PaymentsDependencies, payment: Payment
) -> Payment:
    authorization = await deps.psp.capture(
        payment.psp_authorization_id, follow_up_key(payment.provider_key, "capture")
    )
    if authorization.status is not ProviderAuthorizationStatus.CAPTURED:
        raise _unexpected(authorization)
    now = deps.now()
    captured_at = authorization.captured_at or now
    async with uow:
        if await uow.payments.record_capture(payment.tenant_id, payment.id, captured_at, now):
            uow.events.append(_captured_event(payment, deps.ids.next_id(), now))
        captured = await uow.payments.get(payment.tenant_id, payment.id)
        await uow.commit()
    assert captured is not None  # payments are never deleted
    return captured


async def _payment(uow: PaymentsUnitOfWork, tenant_id: int, payment_id: int) -> Payment:
    async with uow:
        payment = await uow.payments.get(tenant_id, payment_id)
    if payment is None:
        raise PaymentNotFoundError(payment_id)
    return payment


def _same_order(payment: Payment, cmd: cmds.AuthorizeOrderPayment, key: str) -> Payment:
    if (payment.order_id, payment.user_id, payment.amount) != (
        cmd.order_id,
        cmd.user_id,
        cmd.amount,
    ):
        raise ProviderKeyReusedError(key)
    return payment


def _unexpected(authorization: ProviderAuthorization) -> ProviderRuleError:
    return ProviderRuleError(
        "unexpected_status", f"authorization {authorization.id} is {authorization.status}"
    )


def _authorized_event(payment: Payment, event_id: int, now: datetime) -> events.PaymentsEvent:
    if payment.status is PaymentStatus.AUTHORIZED:
        return events.PaymentAuthorized(
            id=event_id,
            occurred_at=now,
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            user_id=payment.user_id,
            order_id=payment.order_id,
            amount=payment.amount,
        )
    return events.PaymentDeclined(
        id=event_id,
        occurred_at=now,
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        user_id=payment.user_id,
        decline_code=payment.decline_code,
        order_id=payment.order_id,
    )


def _captured_event(payment: Payment, event_id: int, now: datetime) -> events.PaymentsEvent:
    # An order's customer is told by the order confirmation: PaymentSucceeded (which the
    # notifications context turns into a receipt e-mail) only for payments of no order.
    if payment.order_id is None:
        return events.PaymentSucceeded(
            id=event_id,
            occurred_at=now,
            tenant_id=payment.tenant_id,
            payment_id=payment.id,
            user_id=payment.user_id,
            amount=payment.amount,
        )
    return events.PaymentCaptured(
        id=event_id,
        occurred_at=now,
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        user_id=payment.user_id,
        order_id=payment.order_id,
        amount=payment.amount,
    )
