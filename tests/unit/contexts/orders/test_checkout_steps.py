"""The checkout's PSP steps translate payments failures into the saga's vocabulary (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bazaar.contexts.orders import CheckoutConfig, CheckoutSteps, OrderStatus
from bazaar.contexts.payments import (
    AuthorizeOrderPayment,
    Payment,
    PaymentNotVoidableError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    PaymentStatus,
    ProviderRuleError,
    PspUnavailableError,
    Refund,
    RefundExceedsCapturedError,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyUnavailableError
from bazaar.kernel.saga import SagaRecord, SagaState, StepFailedError, StepRetryableError
from bazaar.kernel.saga.machine import new_saga

NOW = datetime(2026, 11, 26, tzinfo=UTC)
TOTAL = Money.of("19.98", "EUR")


def _payment(status: PaymentStatus, payment_id: int = 7) -> Payment:
    return Payment(
        id=payment_id,
        tenant_id=1,
        user_id=2,
        amount=TOTAL,
        status=status,
        psp_authorization_id="auth_1",
        provider_key="k",
        decline_code="card_declined" if status is PaymentStatus.DECLINED else None,
        description=None,
        refunded=Money.zero("EUR"),
        captured_at=None,
        created_at=NOW,
        updated_at=NOW,
        order_id=42,
    )


@dataclass
class FakePayments:
    """A ``PaymentGateway`` whose answers (or failures) the test sets."""

    authorize_answer: Payment | Exception = field(
        default_factory=lambda: _payment(PaymentStatus.AUTHORIZED)
    )
    current: Payment | None = None
    void_error: Exception | None = None
    refund_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    async def authorize_order_payment(self, cmd: AuthorizeOrderPayment) -> Payment:
        self.calls.append(f"authorize {cmd.operation_key} {cmd.amount}")
        if isinstance(self.authorize_answer, Exception):
            raise self.authorize_answer
        return self.authorize_answer

    async def capture_payment(self, tenant_id: int, payment_id: int) -> Payment:
        self.calls.append(f"capture {payment_id}")
        return _payment(PaymentStatus.SUCCEEDED, payment_id)

    async def void_payment(self, tenant_id: int, payment_id: int) -> Payment:
        self.calls.append(f"void {payment_id}")
        if self.void_error is not None:
            raise self.void_error
        return _payment(PaymentStatus.VOIDED, payment_id)

    async def refund_order_payment(
        self, tenant_id: int, payment_id: int, *, operation_key: str
    ) -> Refund:
        self.calls.append(f"refund {payment_id} {operation_key}")
        if self.refund_error is not None:
            raise self.refund_error
        raise AssertionError("the tests only look at the call")

    async def payment_for_order(self, tenant_id: int, order_id: int) -> Payment | None:
        return self.current


@dataclass
class RecordingOrders:
    updates: list[dict[str, Any]] = field(default_factory=list)

    async def update(self, tenant_id: int, order_id: int, **changes: Any) -> None:
        self.updates.append(changes)


@dataclass
class FakeUnitOfWork:
    """Only what the PSP steps touch: the order's status."""

    orders: RecordingOrders = field(default_factory=RecordingOrders)
    events: list[Any] = field(default_factory=list)


def _saga() -> SagaRecord:
    from bazaar.contexts.orders import checkout_definition

    data = {"user_id": 2, "total": TOTAL.to_json(), "card_token": "tok_ok", "payment_id": 7}
    return new_saga(checkout_definition(CheckoutConfig()), 42, 1, data, NOW)


def _steps(payments: FakePayments) -> CheckoutSteps:
    return CheckoutSteps(
        payments=payments, ids=_Ids(), clock=ManualClock(), config=CheckoutConfig()
    )


class _Ids:
    def __init__(self) -> None:
        self.last = 1000

    def next_id(self) -> int:
        self.last += 1
        return self.last


class TestAuthorize:
    async def test_an_authorization_records_the_payment_on_the_order(self) -> None:
        payments, uow = FakePayments(), FakeUnitOfWork()

        produced = await _steps(payments).authorize(_saga(), uow)  # type: ignore[arg-type]

        assert produced == {"payment_id": 7}
        assert payments.calls == ["authorize order:42:authorize 19.98 EUR"]
        assert uow.orders.updates == [
            {"status": OrderStatus.RESERVED, "at": uow.orders.updates[0]["at"], "payment_id": 7}
        ]

    async def test_a_decline_fails_for_good_as_payment_declined(self) -> None:
        payments = FakePayments(authorize_answer=_payment(PaymentStatus.DECLINED))

        with pytest.raises(StepFailedError) as failed:
            await _steps(payments).authorize(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert failed.value.reason == "payment_declined"

    @pytest.mark.parametrize(
        "error",
        [
            DependencyUnavailableError("psp", "breaker_open", 5.0),
            PspUnavailableError("503"),
            PaymentOutcomeUnknownError("k", 1.0),
        ],
        ids=["breaker-open", "psp-5xx", "outcome-unknown"],
    )
    async def test_an_unavailable_psp_is_retryable_as_payment_unavailable(
        self, error: Exception
    ) -> None:
        payments = FakePayments(authorize_answer=error)

        with pytest.raises(StepRetryableError) as failed:
            await _steps(payments).authorize(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert failed.value.reason == "payment_unavailable"

    async def test_a_refused_card_token_is_a_decline(self) -> None:
        payments = FakePayments(
            authorize_answer=PaymentRejectedError("card_token", "invalid_token", "unknown token")
        )

        with pytest.raises(StepFailedError) as failed:
            await _steps(payments).authorize(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert failed.value.reason == "payment_declined"

    async def test_another_refusal_fails_as_payment_failed(self) -> None:
        payments = FakePayments(
            authorize_answer=ProviderRuleError("conflict", "the authorization is in another state")
        )

        with pytest.raises(StepFailedError) as failed:
            await _steps(payments).authorize(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert failed.value.reason == "payment_failed"


class TestCompensations:
    async def test_void_does_nothing_without_a_payment(self) -> None:
        payments = FakePayments(current=None)

        await _steps(payments).void(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert payments.calls == []

    async def test_void_voids_an_authorization(self) -> None:
        payments = FakePayments(current=_payment(PaymentStatus.AUTHORIZED))

        await _steps(payments).void(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert payments.calls == ["void 7"]

    async def test_void_refunds_a_capture_it_did_not_know_of(self) -> None:
        payments = FakePayments(
            current=_payment(PaymentStatus.AUTHORIZED),
            void_error=PaymentNotVoidableError(7, "succeeded"),
            refund_error=RefundExceedsCapturedError(7, "19.98", "0.00"),
        )

        await _steps(payments).void(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert payments.calls == ["void 7", "refund 7 order:42:refund"]

    @pytest.mark.parametrize("status", [PaymentStatus.DECLINED, PaymentStatus.VOIDED])
    async def test_void_leaves_a_payment_that_took_nothing_alone(
        self, status: PaymentStatus
    ) -> None:
        payments = FakePayments(current=_payment(status))

        await _steps(payments).void(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert payments.calls == []

    async def test_refund_treats_nothing_left_to_refund_as_done(self) -> None:
        payments = FakePayments(
            current=_payment(PaymentStatus.SUCCEEDED),
            refund_error=RefundExceedsCapturedError(7, "19.98", "0.00"),
        )

        await _steps(payments).refund(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]

        assert payments.calls == ["refund 7 order:42:refund"]

    async def test_a_psp_outage_during_a_refund_is_retryable(self) -> None:
        payments = FakePayments(
            current=_payment(PaymentStatus.SUCCEEDED), refund_error=PspUnavailableError("503")
        )

        with pytest.raises(StepRetryableError):
            await _steps(payments).refund(_saga(), FakeUnitOfWork())  # type: ignore[arg-type]


def _order() -> Any:
    from bazaar.contexts.orders import Order, OrderLine

    return Order(
        id=42,
        tenant_id=1,
        user_id=2,
        status=OrderStatus.RESERVED,
        lines=(OrderLine(5, 2, Money.of("9.99", "EUR")),),
        total=TOTAL,
        shipping_address={},
        failure_reason=None,
        created_at=NOW,
        updated_at=NOW,
    )


class OrdersWithOne(RecordingOrders):
    async def get(self, tenant_id: int, order_id: int) -> Any:
        return _order()


class TestOrderFollowsTheSaga:
    async def test_a_compensated_saga_cancels_the_order_with_its_reason(self) -> None:
        uow = FakeUnitOfWork(orders=OrdersWithOne())
        saga = replace(_saga(), state=SagaState.COMPENSATED, failure_reason="out_of_stock")

        await _steps(FakePayments()).on_transition(saga, uow)  # type: ignore[arg-type]

        assert uow.orders.updates[0]["status"] is OrderStatus.CANCELLED
        assert uow.orders.updates[0]["failure_reason"] == "out_of_stock"
        assert [event.type for event in uow.events] == ["orders.order_cancelled"]

    async def test_a_parked_saga_parks_the_order_and_says_why(self) -> None:
        uow = FakeUnitOfWork(orders=OrdersWithOne())
        saga = replace(
            _saga(),
            state=SagaState.NEEDS_ATTENTION,
            failure_reason="payment_unavailable",
            attention_reason="compensation of step 'capture_payment' failed: refused",
        )

        await _steps(FakePayments()).on_transition(saga, uow)  # type: ignore[arg-type]

        assert uow.orders.updates[0]["status"] is OrderStatus.NEEDS_ATTENTION
        assert [event.type for event in uow.events] == ["orders.order_needs_attention"]
        assert "capture_payment" in uow.events[0].reason

    async def test_running_and_completed_sagas_leave_the_order_to_the_steps(self) -> None:
        uow = FakeUnitOfWork(orders=OrdersWithOne())

        for state in (SagaState.COMPENSATING, SagaState.COMPLETED):
            await _steps(FakePayments()).on_transition(replace(_saga(), state=state), uow)  # type: ignore[arg-type]

        assert uow.orders.updates == []
        assert uow.events == []
