"""``PaymentService``: the payments context's facade, the only way other code uses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bazaar.contexts.payments.application import handlers, order_payments, refunds, webhooks
from bazaar.contexts.payments.application.handlers import PaymentsDependencies
from bazaar.contexts.payments.application.keys import KeyTicket, Render
from bazaar.contexts.payments.application.ports import EventListener, IdGenerator, PaymentProvider
from bazaar.contexts.payments.application.provider_calls import GuardedProvider
from bazaar.contexts.payments.application.refunds import RefundOutcome
from bazaar.contexts.payments.application.unit_of_work import (
    PaymentsReadModel,
    PaymentsUnitOfWork,
)
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.contexts.payments.domain.errors import PaymentNotFoundError
from bazaar.contexts.payments.domain.model import Payment, Refund
from bazaar.kernel.clock import Clock
from bazaar.kernel.idempotency import Claim, StoredResponse
from bazaar.kernel.resilience import DependencyGuard

__all__ = ["PaymentDetails", "PaymentService"]

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    """A payment and its refunds, as a reader sees them."""

    payment: Payment
    refunds: list[Refund]


class PaymentService:
    """Facade pattern over the payments context: payments, refunds, PSP webhooks, keys.

    Each write runs its handler on a fresh unit of work; events of committed transactions go
    to the listeners afterwards (a listener must not raise; it cannot undo the commit).
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], PaymentsUnitOfWork],
        reads: PaymentsReadModel,
        provider: PaymentProvider,
        guard: DependencyGuard,
        ids: IdGenerator,
        clock: Clock,
        listeners: Sequence[EventListener] = (),
    ) -> None:
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._guard = guard
        self._provider = provider
        self._clock = clock
        self._listeners = tuple(listeners)
        self._deps = PaymentsDependencies(
            ids=ids, clock=clock, psp=GuardedProvider(provider, guard)
        )

    async def _run(self, work: Callable[[PaymentsUnitOfWork], Awaitable[_R]]) -> _R:
        uow = self._unit_of_work()
        try:
            return await work(uow)
        finally:
            # Only events of committed transactions are left in the list.
            for event in uow.events:
                for listener in self._listeners:
                    listener(event)

    # --- idempotency keys (used by bazaar.api.idempotency) ---

    async def claim_key(self, scope: str, key: str, fingerprint: str) -> Claim:
        """Claim an Idempotency-Key in a short transaction of its own, before the operation."""
        uow = self._unit_of_work()
        async with uow:
            claim = await uow.idempotency.claim(scope, key, fingerprint, self._clock.now())
            await uow.commit()
        return claim

    async def purge_expired_keys(self) -> int:
        """Delete Idempotency-Key records past their retention (run by a scheduled job)."""
        uow = self._unit_of_work()
        async with uow:
            purged = await uow.idempotency.purge_expired(self._clock.now())
            await uow.commit()
        return purged

    async def peek_key(self, scope: str, key: str, fingerprint: str) -> Claim:
        """What claiming the key would decide, read-only."""
        return await self._reads.peek_key(scope, key, fingerprint, self._clock.now())

    async def fail_fast(self) -> None:
        """Refuse at once while the PSP breaker is open (no write, no PSP call).

        Raises:
            DependencyUnavailableError: the PSP breaker is open.
        """
        await self._guard.fail_fast_if_open()

    async def release_key(self, scope: str, key: str, lock_token: str) -> None:
        """Forget a claimed key whose operation left no effect, so the key can be retried."""
        uow = self._unit_of_work()
        async with uow:
            await uow.idempotency.release(scope, key, lock_token)
            await uow.commit()

    # --- commands ---

    async def create_payment(
        self, cmd: cmds.CreatePayment, ticket: KeyTicket, render: Render[Payment]
    ) -> StoredResponse:
        """Raises: see ``handlers.create_payment``."""
        return await self._run(
            lambda uow: handlers.create_payment(cmd, uow, self._deps, ticket, render)
        )

    async def refund_payment(
        self, cmd: cmds.RefundPayment, ticket: KeyTicket, render: Render[RefundOutcome]
    ) -> StoredResponse:
        """Raises: see ``refunds.refund_payment``."""
        return await self._run(
            lambda uow: refunds.refund_payment(cmd, uow, self._deps, ticket, render)
        )

    # --- a checkout saga's payment (each safe to call again with the same arguments) ---

    async def authorize_order_payment(self, cmd: cmds.AuthorizeOrderPayment) -> Payment:
        """Authorize (not capture) the order's amount; ``authorized`` or ``declined``.

        Idempotent by ``cmd.operation_key``: a payment recorded for it is returned without
        calling the PSP, and a re-run after a crash sends the PSP the same key.

        Raises: see ``order_payments.authorize_order_payment``.
        """
        return await self._run(
            lambda uow: order_payments.authorize_order_payment(cmd, uow, self._deps)
        )

    async def capture_payment(self, tenant_id: int, payment_id: int) -> Payment:
        """``authorized`` → ``succeeded``; a captured payment is returned as it is.

        Raises: see ``order_payments.capture_payment``.
        """
        return await self._run(
            lambda uow: order_payments.capture_payment(tenant_id, payment_id, uow, self._deps)
        )

    async def void_payment(self, tenant_id: int, payment_id: int) -> Payment:
        """``authorized`` → ``voided``; a voided or declined payment is returned as it is.

        Raises: see ``order_payments.void_payment`` (``PaymentNotVoidableError`` once
        captured: refund it with ``refund_order_payment`` instead).
        """
        return await self._run(
            lambda uow: order_payments.void_payment(tenant_id, payment_id, uow, self._deps)
        )

    async def refund_order_payment(
        self, tenant_id: int, payment_id: int, *, operation_key: str
    ) -> Refund:
        """Refund everything left of a captured payment, once per ``operation_key``.

        Raises: see ``refunds.refund_order_payment``.
        """
        return await self._run(
            lambda uow: refunds.refund_order_payment(
                tenant_id, payment_id, operation_key, uow, self._deps
            )
        )

    async def record_psp_event(self, cmd: cmds.RecordPspEvent) -> bool:
        """Apply a verified PSP event once; False for a replayed event id."""
        return await self._run(lambda uow: webhooks.record_psp_event(cmd, uow, self._deps))

    # --- queries ---

    async def get_payment(self, viewer: cmds.Viewer, payment_id: int) -> PaymentDetails:
        """Raises: PaymentNotFoundError (also for another tenant's or customer's payment)."""
        payment = await self._reads.get_payment(viewer.tenant_id, payment_id)
        if payment is None or not (viewer.whole_tenant or payment.user_id == viewer.user_id):
            raise PaymentNotFoundError(payment_id)
        return PaymentDetails(payment, await self._reads.refunds_of(viewer.tenant_id, payment_id))

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None:
        """The order's newest payment, or None (read from the read sessions)."""
        return await self._reads.payment_for_order(tenant_id, order_id)

    async def aclose(self) -> None:
        """Close the PSP client's connections."""
        await self._provider.aclose()
