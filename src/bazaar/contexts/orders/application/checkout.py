"""The checkout saga (capabilities §5.3): its steps, their compensations, and the order's status.

    reserve ──► authorize ──► capture ──► ship ──► confirm
    release     void          refund      cancel   (nothing: the last step)

Every step is idempotent, so the driver may re-run it after a crash or a timeout: the
reservation and the shipment are keyed by the order id, the PSP calls by operation keys
derived from it. ``authorize`` and ``capture`` are written ahead (their effect is at the
PSP, outside the step's transaction): a crash mid-call leaves the step ``running`` in the
log, and the resumed saga asks again with the same key instead of charging twice. Each
compensation accepts that there may be nothing to undo.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bazaar.contexts.inventory import (
    OutOfStockError,
    ReservationLine,
    ReservationNotHeldError,
)
from bazaar.contexts.orders.application.ports import IdGenerator, OrdersUnitOfWork, PaymentGateway
from bazaar.contexts.orders.domain import events
from bazaar.contexts.orders.domain.model import FailureReason, Order, OrderStatus
from bazaar.contexts.payments import (
    AuthorizeOrderPayment,
    PaymentNotVoidableError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    PaymentsError,
    PaymentStatus,
    RefundExceedsCapturedError,
)
from bazaar.contexts.shipping import ShipmentAlreadyDispatchedError
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyFailureError, DependencyUnavailableError
from bazaar.kernel.retry import RetryPolicy
from bazaar.kernel.saga import (
    SagaDefinition,
    SagaRecord,
    SagaState,
    StepDefinition,
    StepFailedError,
    StepHandler,
    StepRetryableError,
)

__all__ = ["CHECKOUT", "CheckoutConfig", "CheckoutSteps", "checkout_definition"]

CHECKOUT = "checkout"


@dataclass(frozen=True, slots=True)
class CheckoutConfig:
    """Timeouts and retries of the checkout (settings ``orders.*``).

    Attributes:
        reservation_ttl_s: How long reserved stock is held for an unfinished checkout.
        payment_timeout_s: One attempt of a PSP step (the PSP client has its own, shorter).
        payment_attempts: Attempts of a PSP step while the PSP is unavailable; with the
            backoff this bounds the wait before the order is cancelled as
            ``payment_unavailable``.
        local_timeout_s: One attempt of a local step (a transaction on our database).
    """

    reservation_ttl_s: float = 900.0
    payment_timeout_s: float = 15.0
    payment_attempts: int = 4
    payment_backoff_s: float = 0.5
    payment_backoff_max_s: float = 4.0
    local_timeout_s: float = 10.0
    local_attempts: int = 3


def checkout_definition(config: CheckoutConfig) -> SagaDefinition:
    payment_retry = RetryPolicy(
        max_attempts=config.payment_attempts,
        base_delay_s=config.payment_backoff_s,
        max_delay_s=config.payment_backoff_max_s,
    )
    local_retry = RetryPolicy(max_attempts=config.local_attempts, base_delay_s=0.1, max_delay_s=1.0)
    return SagaDefinition(
        CHECKOUT,
        (
            StepDefinition(
                "reserve_inventory",
                timeout_s=config.local_timeout_s,
                retry=local_retry,
                # Out of stock says so itself; this is for a step that kept failing
                # otherwise (the database away), which must not read as a sold-out product.
                failure_reason=FailureReason.INVENTORY_UNAVAILABLE.value,
            ),
            StepDefinition(
                "authorize_payment",
                timeout_s=config.payment_timeout_s,
                retry=payment_retry,
                write_ahead=True,
                failure_reason=FailureReason.PAYMENT_UNAVAILABLE.value,
            ),
            StepDefinition(
                "capture_payment",
                timeout_s=config.payment_timeout_s,
                retry=payment_retry,
                write_ahead=True,
                failure_reason=FailureReason.PAYMENT_UNAVAILABLE.value,
            ),
            StepDefinition(
                "create_shipment",
                timeout_s=config.local_timeout_s,
                retry=local_retry,
                failure_reason=FailureReason.SHIPPING_UNAVAILABLE.value,
            ),
            StepDefinition(
                "confirm_order",
                timeout_s=config.local_timeout_s,
                retry=local_retry,
                compensable=False,
                failure_reason=FailureReason.RESERVATION_EXPIRED.value,
            ),
        ),
    )


class CheckoutSteps:
    """The code of the checkout's steps, over ``OrdersUnitOfWork`` transactions."""

    def __init__(
        self,
        *,
        payments: PaymentGateway,
        ids: IdGenerator,
        clock: Clock,
        config: CheckoutConfig,
    ) -> None:
        self._payments = payments
        self._ids = ids
        self._clock = clock
        self._config = config

    def handlers(self) -> dict[str, StepHandler[OrdersUnitOfWork]]:
        return {
            "reserve_inventory": StepHandler(self.reserve, self.release),
            "authorize_payment": StepHandler(self.authorize, self.void),
            "capture_payment": StepHandler(self.capture, self.refund),
            "create_shipment": StepHandler(self.ship, self.cancel_shipment),
            "confirm_order": StepHandler(self.confirm),
        }

    # --- reserve / release ---

    async def reserve(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        order = await self._order(saga, uow)
        now = self._now()
        lines = [ReservationLine(line.product_id, line.quantity) for line in order.lines]
        try:
            await uow.stock.reserve(
                order.tenant_id,
                order.id,
                lines,
                expires_at=now + timedelta(seconds=self._config.reservation_ttl_s),
                now=now,
            )
        except OutOfStockError as exc:
            raise StepFailedError(
                f"product {exc.product_id}: {exc.requested} wanted, {exc.available} available",
                reason=FailureReason.OUT_OF_STOCK.value,
            ) from exc
        await uow.orders.update(order.tenant_id, order.id, status=OrderStatus.RESERVED, at=now)
        return None

    async def release(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        await uow.stock.release(saga.tenant_id, saga.id, now=self._now())
        return None

    # --- authorize / void ---

    # The PSP steps call out before their transaction touches the database: on SQLite the
    # first statement takes the single writer, which the payments context needs meanwhile.

    async def authorize(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        command = AuthorizeOrderPayment(
            tenant_id=saga.tenant_id,
            user_id=int(saga.data["user_id"]),
            order_id=saga.id,
            amount=Money.from_json(saga.data["total"]),
            card_token=str(saga.data["card_token"]),
            operation_key=f"order:{saga.id}:authorize",
        )
        with _payment_failures():
            payment = await self._payments.authorize_order_payment(command)
        if payment.status is PaymentStatus.DECLINED:
            raise StepFailedError(
                f"the card was declined ({payment.decline_code or 'no code'})",
                reason=FailureReason.PAYMENT_DECLINED.value,
            )
        await uow.orders.update(
            saga.tenant_id,
            saga.id,
            status=OrderStatus.RESERVED,
            at=self._now(),
            payment_id=payment.id,
        )
        return {"payment_id": payment.id}

    async def void(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        with _payment_failures():
            payment = await self._payments.payment_for_order(saga.tenant_id, saga.id)
            if payment is None:
                return None  # the authorization never reached a payment: nothing to void
            if payment.status is PaymentStatus.AUTHORIZED:
                try:
                    await self._payments.void_payment(saga.tenant_id, payment.id)
                except PaymentNotVoidableError:
                    # A capture whose answer was lost went through after all: refund.
                    await self._refund(saga, payment.id)
            elif payment.status is PaymentStatus.SUCCEEDED:
                # Captured although the log did not record it: give the money back.
                await self._refund(saga, payment.id)
        return None

    # --- capture / refund ---

    async def capture(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        payment_id = int(saga.data["payment_id"])
        with _payment_failures():
            await self._payments.capture_payment(saga.tenant_id, payment_id)
        await uow.orders.update(saga.tenant_id, saga.id, status=OrderStatus.PAID, at=self._now())
        return None

    async def refund(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        with _payment_failures():
            payment = await self._payments.payment_for_order(saga.tenant_id, saga.id)
            if payment is not None and payment.status is PaymentStatus.SUCCEEDED:
                await self._refund(saga, payment.id)
        return None

    async def _refund(self, saga: SagaRecord, payment_id: int) -> None:
        try:
            await self._payments.refund_order_payment(
                saga.tenant_id, payment_id, operation_key=_refund_key(saga)
            )
        except RefundExceedsCapturedError:
            return  # everything was given back already: the compensation's work is done

    # --- ship / cancel ---

    async def ship(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        order = await self._order(saga, uow)
        now = self._now()
        shipment, raised = await uow.shipments.create(
            order.tenant_id, self._ids.next_id(), order.id, order.shipping_address, now=now
        )
        uow.events.extend(raised)
        await uow.orders.update(
            order.tenant_id,
            order.id,
            status=OrderStatus.FULFILLING,
            at=now,
            shipment_id=shipment.id,
        )
        return {"shipment_id": shipment.id}

    async def cancel_shipment(
        self, saga: SagaRecord, uow: OrdersUnitOfWork
    ) -> Mapping[str, Any] | None:
        try:
            _, raised = await uow.shipments.cancel(
                saga.tenant_id, saga.id, now=self._now(), event_id=self._ids.next_id()
            )
        except ShipmentAlreadyDispatchedError as exc:
            raise StepFailedError(f"the shipment has left: {exc}") from exc
        uow.events.extend(raised)
        return None

    # --- confirm ---

    async def confirm(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Mapping[str, Any] | None:
        order = await self._order(saga, uow)
        now = self._now()
        try:
            await uow.stock.commit(order.tenant_id, order.id, now=now)
        except ReservationNotHeldError as exc:
            raise StepFailedError(
                f"the reservation is {exc.status.value}",
                reason=FailureReason.RESERVATION_EXPIRED.value,
            ) from exc
        await uow.orders.update(order.tenant_id, order.id, status=OrderStatus.COMPLETED, at=now)
        uow.events.append(
            events.OrderConfirmed(
                id=self._ids.next_id(),
                occurred_at=now,
                tenant_id=order.tenant_id,
                order_id=order.id,
                user_id=order.user_id,
                total=order.total,
            )
        )
        return None

    # --- the order follows the saga ---

    async def on_transition(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> None:
        """Cancelled or parked orders: their status, reason and event, in the saga's write."""
        if saga.state not in (SagaState.COMPENSATED, SagaState.NEEDS_ATTENTION):
            return
        order = await self._order(saga, uow)
        now = self._now()
        if saga.state is SagaState.COMPENSATED:
            reason = saga.failure_reason or FailureReason.PAYMENT_FAILED.value
            await uow.orders.update(
                order.tenant_id,
                order.id,
                status=OrderStatus.CANCELLED,
                at=now,
                failure_reason=reason,
            )
            event: events.OrdersEvent = events.OrderCancelled(
                id=self._ids.next_id(),
                occurred_at=now,
                tenant_id=order.tenant_id,
                order_id=order.id,
                user_id=order.user_id,
                reason=reason,
            )
        else:
            reason = saga.attention_reason or "a step could neither finish nor be undone"
            await uow.orders.update(
                order.tenant_id,
                order.id,
                status=OrderStatus.NEEDS_ATTENTION,
                at=now,
                failure_reason=saga.failure_reason,
            )
            event = events.OrderNeedsAttention(
                id=self._ids.next_id(),
                occurred_at=now,
                tenant_id=order.tenant_id,
                order_id=order.id,
                user_id=order.user_id,
                reason=reason,
            )
        uow.events.append(event)

    # --- helpers ---

    async def _order(self, saga: SagaRecord, uow: OrdersUnitOfWork) -> Order:
        order = await uow.orders.get(saga.tenant_id, saga.id)
        if order is None:  # the order and its saga are written in one transaction
            raise StepFailedError(f"order {saga.id} is missing")
        return order

    def _now(self) -> datetime:
        return utc_from_timestamp(self._clock.now())


def _refund_key(saga: SagaRecord) -> str:
    return f"order:{saga.id}:refund"


@contextmanager
def _payment_failures() -> Iterator[None]:
    """Translate the payments context's failures into the saga's retry vocabulary."""
    unavailable = FailureReason.PAYMENT_UNAVAILABLE.value
    try:
        yield
    except (DependencyUnavailableError, DependencyFailureError) as exc:
        raise StepRetryableError(f"the PSP is unavailable: {exc}", reason=unavailable) from exc
    except PaymentOutcomeUnknownError as exc:
        raise StepRetryableError(f"the PSP's answer is unknown: {exc}", reason=unavailable) from exc
    except PaymentRejectedError as exc:
        # The card itself was refused (an unknown or unusable token): a decline.
        raise StepFailedError(
            f"the PSP refused the card: {exc}", reason=FailureReason.PAYMENT_DECLINED.value
        ) from exc
    except PaymentsError as exc:
        raise StepFailedError(
            f"the PSP refused: {exc}", reason=FailureReason.PAYMENT_FAILED.value
        ) from exc
