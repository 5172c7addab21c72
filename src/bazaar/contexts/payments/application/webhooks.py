"""Handler of verified PSP webhook events: recorded by id, their effect applied exactly once.

The event row and the effect commit in one transaction (the inbox pattern, capabilities
§6.3): a replayed delivery finds its id taken and changes nothing. Inserting the id first
also serializes concurrent deliveries of one event on the unique key.

Effects:

* ``authorization.captured`` — the payment's ``captured_at`` when it had none (a
  checkout's payment leaves ``authorized`` only through ``capture_payment``, whose
  conditional write raises the one event; the webhook, which may come first, notes the time);
* ``refund.succeeded`` for a refund bazaar did not make (one made at the PSP itself) — a
  refund row, and its amount added to the payment's refunded total. A refund bazaar made is
  ``pending`` from before the PSP saw it until its own request finishes it, so while a
  payment has a pending refund such an event is left to that request (``deferred``) rather
  than matched by amount, which would be a guess;
* anything else is recorded and ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bazaar.contexts.payments.application.handlers import PaymentsDependencies
from bazaar.contexts.payments.application.unit_of_work import PaymentsUnitOfWork
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain import events
from bazaar.contexts.payments.domain.model import Refund, RefundStatus
from bazaar.kernel.money import Money, MoneyError

__all__ = ["record_psp_event"]


async def record_psp_event(
    cmd: cmds.RecordPspEvent, uow: PaymentsUnitOfWork, deps: PaymentsDependencies
) -> bool:
    """Record the event and apply its effect; False when the event id was seen before."""
    now = deps.now()
    async with uow:
        if not await uow.webhook_events.add(cmd.event_id, cmd.event_type, cmd.payload, now):
            return False
        effect = await _apply(cmd, uow, deps, now)
        await uow.webhook_events.set_effect(cmd.event_id, effect)
        await uow.commit()
    return True


async def _apply(
    cmd: cmds.RecordPspEvent, uow: PaymentsUnitOfWork, deps: PaymentsDependencies, now: datetime
) -> str:
    if cmd.event_type == "authorization.captured":
        return await _captured(cmd.data, uow, now)
    if cmd.event_type == "refund.succeeded":
        return await _refunded(cmd.data, uow, deps, now)
    return "ignored"


async def _captured(data: dict[str, Any], uow: PaymentsUnitOfWork, now: datetime) -> str:
    authorization_id = data.get("id")
    if not isinstance(authorization_id, str):
        return "malformed"
    payment = await uow.payments.get_by_authorization(authorization_id)
    if payment is None:
        return "unknown_authorization"
    changed = await uow.payments.mark_captured(payment.id, now)
    return "payment_captured" if changed else "already_captured"


async def _refunded(
    data: dict[str, Any], uow: PaymentsUnitOfWork, deps: PaymentsDependencies, now: datetime
) -> str:
    refund_id, authorization_id = data.get("id"), data.get("authorization_id")
    if not isinstance(refund_id, str) or not isinstance(authorization_id, str):
        return "malformed"
    if await uow.refunds.get_by_psp_refund_id(refund_id) is not None:
        return "already_recorded"
    payment = await uow.payments.get_by_authorization(authorization_id)
    if payment is None:
        return "unknown_authorization"
    if await uow.refunds.has_pending(payment.id):
        return "deferred"
    try:
        amount = Money.from_json(data)
    except MoneyError:
        return "malformed"
    if amount.currency != payment.amount.currency or not await uow.payments.reserve_refund(
        payment.tenant_id, payment.id, amount.minor_units, now
    ):
        return "exceeds_payment"
    refund = Refund(
        id=deps.ids.next_id(),
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        user_id=None,
        amount=amount,
        status=RefundStatus.SUCCEEDED,
        provider_key=None,
        psp_refund_id=refund_id,
        created_at=now,
        updated_at=now,
    )
    await uow.refunds.add(refund)
    uow.events.append(
        events.RefundSucceeded(
            id=deps.ids.next_id(),
            occurred_at=now,
            tenant_id=payment.tenant_id,
            refund_id=refund.id,
            payment_id=payment.id,
            amount=amount,
        )
    )
    return "external_refund_recorded"
