"""Command handlers for refunds: reserve on the payment, refund at the PSP, record the outcome.

Three short transactions around one PSP call (none is held across it, see ``handlers``):

1. reserve — a conditional update adds the amount to the payment's refunded total only if
   it still fits, and a ``pending`` refund row is written; a refund that does not fit is
   answered 409 and that answer is stored with the key in the same transaction;
2. the PSP refund, with a key derived from the caller's;
3. finish — the refund ``succeeded`` (or ``failed`` with the reservation given back when
   the PSP refused), the response stored with the key in the same transaction.

If the outcome at the PSP is unknown the refund stays ``pending`` with its reservation: the
money may be on its way back, so promising it again would risk refunding more than was
captured. A retry with the same key finds the pending refund, asks the PSP again with the
same PSP key, and finishes it.

``refund_order_payment`` is the same refund for a checkout saga's compensation: the whole
rest of the payment, keyed by the saga's operation key instead of an Idempotency-Key
record — its refund row, found by the derived PSP key, is what makes a re-run safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from bazaar.contexts.payments.application.handlers import PaymentsDependencies
from bazaar.contexts.payments.application.keys import KeyTicket, Render, complete_key
from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain import events
from bazaar.contexts.payments.domain.errors import (
    PaymentNotFoundError,
    ProviderKeyReusedError,
    ProviderRefusalError,
    RefundNotAllowedError,
    RefundRefusedByProviderError,
)
from bazaar.contexts.payments.domain.model import (
    Payment,
    Refund,
    RefundStatus,
    operation_provider_key,
    provider_key,
)
from bazaar.kernel.idempotency import StoredResponse
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyUnavailableError

__all__ = ["RefundOutcome", "refund_order_payment", "refund_payment"]

RefundOutcome = Refund | RefundNotAllowedError

_T = TypeVar("_T")
# Runs in the transaction that records a refund's outcome, before the outcome is written.
Keep = Callable[[PaymentsUnitOfWork, RefundOutcome], Awaitable[_T]]


@dataclasses.dataclass(frozen=True, slots=True)
class _Reserved:
    payment: Payment
    refund: Refund
    resumed: bool  # a pending refund of an earlier request with this key


async def refund_payment(
    cmd: cmds.RefundPayment,
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    ticket: KeyTicket,
    render: Render[RefundOutcome],
) -> StoredResponse:
    """Refund (part of) a payment of the tenant, never past what was captured.

    Raises:
        PaymentNotFoundError: no such payment in the tenant (nothing stored).
        InvalidRefundError: the amount is in another currency (nothing stored).
        ProviderKeyReusedError: the key already refunds another payment or amount.
        DependencyUnavailableError, PaymentOutcomeUnknownError: as for payments; the refund
            stays pending when the PSP may have acted.
        IdempotencyLockLostError: another request took the key over.
    """
    key = provider_key(cmd.tenant_id, cmd.user_id, ticket.key)
    reserved = await _reserve(cmd, uow, deps, ticket, render, key)
    if isinstance(reserved, StoredResponse):
        return reserved

    async def keep(uow: PaymentsUnitOfWork, outcome: RefundOutcome) -> StoredResponse:
        # The key first: if the lock was lost, nothing below is written.
        response = render(outcome)
        await complete_key(uow, ticket, response, deps.clock.now())
        return response

    return await _settle(uow, deps, reserved, key, keep)


async def refund_order_payment(
    tenant_id: int,
    payment_id: int,
    operation_key: str,
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
) -> Refund:
    """Refund everything left of a payment once per ``operation_key`` (a compensation).

    A re-run with the same key returns the refund of the first run (finishing it first if
    the PSP's answer was lost), even when nothing is left to refund by then.

    Raises:
        PaymentNotFoundError: no such payment in the tenant.
        PaymentNotRefundableError: it is not captured (authorized: void it instead).
        RefundExceedsCapturedError: nothing is left to refund and this key refunded none
            of it (other refunds gave it all back already).
        ProviderKeyReusedError: the key already refunds another payment.
        RefundRefusedByProviderError: the PSP refused this key's refund (now or before).
        DependencyUnavailableError, PaymentOutcomeUnknownError: as for ``refund_payment``.
    """
    key = operation_provider_key(tenant_id, operation_key)
    reserved = await _reserve_rest(tenant_id, payment_id, uow, deps, key)
    if isinstance(reserved, Refund):
        return reserved

    async def keep(_uow: PaymentsUnitOfWork, outcome: RefundOutcome) -> RefundOutcome:
        return outcome

    outcome = await _settle(uow, deps, reserved, key, keep)
    if isinstance(outcome, RefundNotAllowedError):
        raise outcome
    return outcome


async def _settle(
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    reserved: _Reserved,
    key: str,
    keep: Keep[_T],
) -> _T:
    """Refund a reserved refund at the PSP and record the outcome (``keep`` joins in)."""
    payment, refund = reserved.payment, reserved.refund
    try:
        answer = await deps.psp.refund(payment.psp_authorization_id, refund.amount, key)
    except ProviderRefusalError as exc:
        refused = RefundRefusedByProviderError(payment.id, exc.code)
        now = deps.now()
        async with uow:
            kept = await keep(uow, refused)
            await _record_failed(uow, deps, refund, refused, now)
            await uow.commit()
        return kept
    except DependencyUnavailableError:
        if not reserved.resumed:
            # This request's refund never reached the PSP (or the PSP says nothing took
            # effect): it did not happen, so it leaves no trace.
            await _forget(uow, deps, refund)
        raise
    now = deps.now()
    done = dataclasses.replace(
        refund, status=RefundStatus.SUCCEEDED, psp_refund_id=answer.id, updated_at=now
    )
    async with uow:
        kept = await keep(uow, done)
        await uow.refunds.set_status(
            done.tenant_id, done.id, RefundStatus.SUCCEEDED, now, psp_refund_id=answer.id
        )
        uow.events.append(
            events.RefundSucceeded(
                id=deps.ids.next_id(),
                occurred_at=now,
                tenant_id=done.tenant_id,
                refund_id=done.id,
                payment_id=done.payment_id,
                amount=done.amount,
            )
        )
        await uow.commit()
    return kept


async def _reserve(
    cmd: cmds.RefundPayment,
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    ticket: KeyTicket,
    render: Render[RefundOutcome],
    key: str,
) -> _Reserved | StoredResponse:
    now = deps.now()
    async with uow:
        payment = await uow.payments.get(cmd.tenant_id, cmd.payment_id)
        if payment is None:
            raise PaymentNotFoundError(cmd.payment_id)
        earlier = await uow.refunds.get_by_provider_key(cmd.tenant_id, key)
        if earlier is not None and not _same_request(earlier, cmd):
            # The key's record was released (a 503) and the retry asks for something else:
            # the PSP knows this key with the first request, so this one cannot use it.
            raise ProviderKeyReusedError(key)
        if earlier is not None and earlier.status is RefundStatus.PENDING:
            return _Reserved(payment, earlier, resumed=True)
        outcome: RefundOutcome
        if earlier is not None and earlier.status is RefundStatus.SUCCEEDED:
            outcome = earlier  # finished by a request whose key record has since expired
        elif earlier is not None:
            outcome = RefundRefusedByProviderError(payment.id, "refund_failed")
        else:
            try:
                refund = await _reserve_amount(
                    uow, deps, payment, cmd.amount, cmd.user_id, key, now
                )
            except RefundNotAllowedError as exc:
                outcome = exc
            else:
                await uow.commit()
                return _Reserved(payment, refund, resumed=False)
        response = render(outcome)
        await complete_key(uow, ticket, response, deps.clock.now())
        await uow.commit()
        return response


async def _reserve_rest(
    tenant_id: int,
    payment_id: int,
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    key: str,
) -> _Reserved | Refund:
    """Reserve everything left for a new refund, or find the one this key made before."""
    now = deps.now()
    async with uow:
        payment = await uow.payments.get(tenant_id, payment_id)
        if payment is None:
            raise PaymentNotFoundError(payment_id)
        earlier = await uow.refunds.get_by_provider_key(tenant_id, key)
        if earlier is None:
            try:
                refund = await _reserve_amount(uow, deps, payment, None, None, key, now)
            except RefundNotAllowedError:
                # A concurrent run with this key may have taken it all first: its refund
                # is committed by now (the reservation waited for its row lock).
                earlier = await uow.refunds.get_by_provider_key(tenant_id, key)
                if earlier is None:
                    raise
            else:
                await uow.commit()
                return _Reserved(payment, refund, resumed=False)
    if earlier.payment_id != payment_id:
        raise ProviderKeyReusedError(key)
    if earlier.status is RefundStatus.PENDING:
        return _Reserved(payment, earlier, resumed=True)
    if earlier.status is RefundStatus.SUCCEEDED:
        return earlier
    raise RefundRefusedByProviderError(payment_id, "refund_failed")


async def _reserve_amount(
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    payment: Payment,
    requested: Money | None,
    user_id: int | None,
    key: str,
    now: datetime,
) -> Refund:
    """Reserve ``requested`` (everything left when None) and write the ``pending`` refund.

    Raises:
        InvalidRefundError, RefundNotAllowedError: see ``Payment.plan_refund``.
    """
    amount = payment.plan_refund(requested)
    if not await uow.payments.reserve_refund(
        payment.tenant_id, payment.id, amount.minor_units, now
    ):
        # A concurrent refund took what this one saw as left: read it again and let the
        # payment say why (exceeds, or nothing left).
        current = await uow.payments.get(payment.tenant_id, payment.id)
        assert current is not None  # payments are never deleted
        current.plan_refund(amount)
        raise RuntimeError("the reservation failed but the refund fits")
    refund = Refund(
        id=deps.ids.next_id(),
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        user_id=user_id,
        amount=amount,
        status=RefundStatus.PENDING,
        provider_key=key,
        psp_refund_id=None,
        created_at=now,
        updated_at=now,
    )
    await uow.refunds.add(refund)
    return refund


def _same_request(earlier: Refund, cmd: cmds.RefundPayment) -> bool:
    if earlier.payment_id != cmd.payment_id:
        return False
    return cmd.amount is None or cmd.amount == earlier.amount


async def _record_failed(
    uow: PaymentsUnitOfWork,
    deps: PaymentsDependencies,
    refund: Refund,
    refused: RefundRefusedByProviderError,
    now: datetime,
) -> None:
    await uow.payments.release_refund(
        refund.tenant_id, refund.payment_id, refund.amount.minor_units, now
    )
    await uow.refunds.set_status(refund.tenant_id, refund.id, RefundStatus.FAILED, now)
    uow.events.append(
        events.RefundFailed(
            id=deps.ids.next_id(),
            occurred_at=now,
            tenant_id=refund.tenant_id,
            refund_id=refund.id,
            payment_id=refund.payment_id,
            reason=refused.code,
        )
    )


async def _forget(uow: PaymentsUnitOfWork, deps: PaymentsDependencies, refund: Refund) -> None:
    async with uow:
        await uow.payments.release_refund(
            refund.tenant_id, refund.payment_id, refund.amount.minor_units, deps.now()
        )
        await uow.refunds.delete(refund.tenant_id, refund.id)
        await uow.commit()
