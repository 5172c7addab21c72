"""A checkout saga's payment with a fake PSP: authorize, capture, void, compensating refund.

Every call is re-run with the same arguments, as a retried or resumed saga step would be:
the second run changes nothing and makes no second PSP effect.
"""

from __future__ import annotations

import pytest
from payments_unit_support import CUSTOMER, MERCHANT, TENANT, claim, render_refund

from bazaar.contexts.payments import (
    AuthorizeOrderPayment,
    Payment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentNotCapturableError,
    PaymentNotFoundError,
    PaymentNotRefundableError,
    PaymentNotVoidableError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    PaymentService,
    PaymentsEvent,
    PaymentStatus,
    PaymentSucceeded,
    PaymentVoided,
    ProviderKeyReusedError,
    RefundExceedsCapturedError,
    RefundPayment,
    RefundRefusedByProviderError,
    RefundStatus,
    RefundSucceeded,
)
from bazaar.contexts.payments.adapters import (
    Fail,
    FakePaymentProvider,
    InFlight,
    InMemoryPaymentsReadModel,
    InMemoryPaymentsStore,
    LoseAnswer,
)
from bazaar.contexts.payments.application.ports import ProviderAuthorizationStatus
from bazaar.contexts.payments.domain.errors import ProviderRuleError
from bazaar.kernel.breaker import BreakerState, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyGuard, DependencyUnavailableError

ORDER = 4242


@pytest.fixture
def published() -> list[PaymentsEvent]:
    return []


@pytest.fixture
def service(
    store: InMemoryPaymentsStore,
    provider: FakePaymentProvider,
    guard: DependencyGuard,
    clock: ManualClock,
    published: list[PaymentsEvent],
) -> PaymentService:
    return PaymentService(
        unit_of_work=store.unit_of_work,
        reads=InMemoryPaymentsReadModel(store),
        provider=provider,
        guard=guard,
        ids=SnowflakeGenerator(1, clock),
        clock=clock,
        listeners=(published.append,),
    )


def authorize_cmd(
    order_id: int = ORDER, card: str = "tok_ok", amount: str = "40.00", tenant_id: int = TENANT
) -> AuthorizeOrderPayment:
    return AuthorizeOrderPayment(
        tenant_id=tenant_id,
        user_id=CUSTOMER,
        order_id=order_id,
        amount=Money.of(amount, "EUR"),
        card_token=card,
        operation_key=f"order:{order_id}:authorize",
    )


async def captured(service: PaymentService, order_id: int = ORDER) -> Payment:
    payment = await service.authorize_order_payment(authorize_cmd(order_id))
    return await service.capture_payment(TENANT, payment.id)


def psp_effects(provider: FakePaymentProvider) -> tuple[int, int, int]:
    """Authorizations, captures/voids and refunds the PSP made (not calls: effects)."""
    return len(provider.authorizations), len(provider.actions), len(provider.refunds)


class TestAuthorize:
    async def test_holds_the_amount_without_capturing(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        published: list[PaymentsEvent],
    ) -> None:
        payment = await service.authorize_order_payment(authorize_cmd())
        assert payment.status is PaymentStatus.AUTHORIZED
        assert (payment.order_id, payment.captured_at) == (ORDER, None)
        assert store.payments == {payment.id: payment}
        [authorization] = provider.authorizations.values()
        assert authorization.status is ProviderAuthorizationStatus.AUTHORIZED
        assert payment.psp_authorization_id == authorization.id
        [event] = published
        assert isinstance(event, PaymentAuthorized)
        assert (event.payment_id, event.order_id) == (payment.id, ORDER)
        # No Idempotency-Key record: the operation key and the payment row do that job.
        assert store.idempotency.records == {}

    async def test_a_decline_is_an_outcome_not_an_error(
        self, service: PaymentService, published: list[PaymentsEvent]
    ) -> None:
        payment = await service.authorize_order_payment(authorize_cmd(card="tok_declined"))
        assert payment.status is PaymentStatus.DECLINED
        assert payment.decline_code == "card_declined"
        [event] = published
        assert isinstance(event, PaymentDeclined)
        assert event.order_id == ORDER

    @pytest.mark.parametrize("card", ["tok_ok", "tok_declined"])
    async def test_a_rerun_returns_the_payment_without_calling_the_psp(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        published: list[PaymentsEvent],
        card: str,
    ) -> None:
        first = await service.authorize_order_payment(authorize_cmd(card=card))
        calls = len(provider.calls)
        again = await service.authorize_order_payment(authorize_cmd(card=card))
        assert again == first
        assert len(provider.calls) == calls
        assert len(store.payments) == len(published) == 1

    async def test_the_operation_key_cannot_authorize_another_order(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        await service.authorize_order_payment(authorize_cmd())
        cmd = authorize_cmd(amount="41.00")
        with pytest.raises(ProviderKeyReusedError):
            await service.authorize_order_payment(cmd)
        assert len(store.payments) == 1

    async def test_the_psp_key_is_derived_from_the_tenant_and_the_operation_key(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        await service.authorize_order_payment(authorize_cmd())
        await service.authorize_order_payment(authorize_cmd(tenant_id=TENANT + 1))
        keys = [call.idempotency_key for call in provider.calls]
        assert len(set(keys)) == 2
        assert all(len(key) == 64 and "order" not in key for key in keys)

    async def test_a_refusal_records_nothing(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        with pytest.raises(PaymentRejectedError):
            await service.authorize_order_payment(authorize_cmd(card="tok_nope"))
        assert store.payments == {}

    async def test_a_lost_answer_is_resolved_by_asking_the_psp(
        self, service: PaymentService, provider: FakePaymentProvider, store: InMemoryPaymentsStore
    ) -> None:
        provider.script("authorize", LoseAnswer(), LoseAnswer(), LoseAnswer())
        payment = await service.authorize_order_payment(authorize_cmd())
        assert provider.effects("find_authorization") == 1
        assert payment.status is PaymentStatus.AUTHORIZED
        assert psp_effects(provider) == (1, 0, 0)
        assert list(store.payments) == [payment.id]

    @pytest.mark.parametrize("lookup", [InFlight(), Fail()])
    async def test_an_unknown_outcome_is_never_guessed_and_a_rerun_finds_it(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        clock: ManualClock,
        lookup: InFlight | Fail,
    ) -> None:
        provider.script("authorize", LoseAnswer(), Fail(), Fail())
        provider.script("find_authorization", lookup)
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.authorize_order_payment(authorize_cmd())
        assert store.payments == {}
        clock.advance(30)  # past the breaker's cooldown, if the failures opened it
        payment = await service.authorize_order_payment(authorize_cmd())
        assert payment.status is PaymentStatus.AUTHORIZED
        assert psp_effects(provider) == (1, 0, 0)
        assert len(store.payments) == 1

    async def test_an_open_breaker_fails_fast_without_calling_the_psp(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        breaker: CircuitBreaker,
    ) -> None:
        done = await service.authorize_order_payment(authorize_cmd(order_id=1))
        provider.script("authorize", *[Fail()] * 3)
        provider.script("find_authorization", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.authorize_order_payment(authorize_cmd(order_id=2))
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        calls = len(provider.calls)

        with pytest.raises(DependencyUnavailableError) as raised:
            await service.authorize_order_payment(authorize_cmd(order_id=3))
        assert raised.value.reason == "breaker_open"
        assert len(provider.calls) == calls
        # A payment already recorded is still returned: that needs no PSP.
        assert await service.authorize_order_payment(authorize_cmd(order_id=1)) == done
        assert list(store.payments) == [done.id]


class TestCapture:
    async def test_captures_once_and_raises_no_receipt_event(
        self, service: PaymentService, provider: FakePaymentProvider, published: list
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        payment = await service.capture_payment(TENANT, authorized.id)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert payment.captured_at is not None
        assert payment.refundable == Money.of("40.00", "EUR")
        assert provider.states[payment.psp_authorization_id].status.value == "captured"
        assert [type(e) for e in published] == [PaymentAuthorized, PaymentCaptured]
        assert not any(isinstance(e, PaymentSucceeded) for e in published)

        calls = len(provider.calls)
        assert await service.capture_payment(TENANT, payment.id) == payment
        assert len(provider.calls) == calls
        assert len(published) == 2

    async def test_a_failed_capture_leaves_it_authorized_and_a_rerun_captures_once(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        clock: ManualClock,
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        provider.script("capture", LoseAnswer(), LoseAnswer(), LoseAnswer())
        provider.script("find_authorization", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.capture_payment(TENANT, authorized.id)
        assert store.payments[authorized.id].status is PaymentStatus.AUTHORIZED
        clock.advance(30)
        payment = await service.capture_payment(TENANT, authorized.id)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert psp_effects(provider) == (1, 1, 0)
        assert len({c.idempotency_key for c in provider.calls if c.operation == "capture"}) == 1

    async def test_a_lost_capture_answer_is_resolved_by_asking_the_psp(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        provider.script("capture", LoseAnswer(), LoseAnswer(), LoseAnswer())
        payment = await service.capture_payment(TENANT, authorized.id)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert provider.effects("find_authorization") == 1

    @pytest.mark.parametrize("card", ["tok_ok", "tok_declined"])
    async def test_declined_or_voided_payments_cannot_be_captured(
        self, service: PaymentService, provider: FakePaymentProvider, card: str
    ) -> None:
        payment = await service.authorize_order_payment(authorize_cmd(card=card))
        if card == "tok_ok":
            payment = await service.void_payment(TENANT, payment.id)
        calls = len(provider.calls)
        with pytest.raises(PaymentNotCapturableError) as raised:
            await service.capture_payment(TENANT, payment.id)
        assert raised.value.status == payment.status.value
        assert len(provider.calls) == calls

    async def test_another_tenants_payment_is_not_found(self, service: PaymentService) -> None:
        payment = await service.authorize_order_payment(authorize_cmd())
        with pytest.raises(PaymentNotFoundError):
            await service.capture_payment(TENANT + 1, payment.id)
        with pytest.raises(PaymentNotFoundError):
            await service.void_payment(TENANT + 1, payment.id)

    async def test_an_open_breaker_fails_fast(
        self, service: PaymentService, provider: FakePaymentProvider, breaker: CircuitBreaker
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        provider.script("capture", *[Fail()] * 3)
        provider.script("find_authorization", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.capture_payment(TENANT, authorized.id)
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        calls = len(provider.calls)
        with pytest.raises(DependencyUnavailableError):
            await service.capture_payment(TENANT, authorized.id)
        assert len(provider.calls) == calls


class TestVoid:
    async def test_voids_once(
        self, service: PaymentService, provider: FakePaymentProvider, published: list
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        payment = await service.void_payment(TENANT, authorized.id)
        assert payment.status is PaymentStatus.VOIDED
        assert provider.states[payment.psp_authorization_id].status.value == "voided"
        assert [type(e) for e in published] == [PaymentAuthorized, PaymentVoided]
        calls = len(provider.calls)
        assert await service.void_payment(TENANT, payment.id) == payment
        assert len(provider.calls) == calls
        assert psp_effects(provider) == (1, 1, 0)

    async def test_a_declined_payment_is_returned_unchanged(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        declined = await service.authorize_order_payment(authorize_cmd(card="tok_declined"))
        calls = len(provider.calls)
        assert await service.void_payment(TENANT, declined.id) == declined
        assert len(provider.calls) == calls

    async def test_a_captured_payment_is_refunded_not_voided(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        payment = await captured(service)
        calls = len(provider.calls)
        with pytest.raises(PaymentNotVoidableError):
            await service.void_payment(TENANT, payment.id)
        assert len(provider.calls) == calls

    async def test_a_capture_whose_answer_was_lost_is_recorded_so_it_can_be_refunded(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        clock: ManualClock,
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        provider.script("capture", LoseAnswer(), LoseAnswer(), LoseAnswer())
        provider.script("find_authorization", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.capture_payment(TENANT, authorized.id)
        clock.advance(30)
        # The saga gives up on capturing and compensates the authorization instead.
        with pytest.raises(PaymentNotVoidableError) as raised:
            await service.void_payment(TENANT, authorized.id)
        assert raised.value.status == "succeeded"
        assert store.payments[authorized.id].status is PaymentStatus.SUCCEEDED
        refund = await service.refund_order_payment(
            TENANT, authorized.id, operation_key=f"order:{ORDER}:refund"
        )
        assert refund.amount == authorized.amount
        assert psp_effects(provider) == (1, 2, 1)  # one capture, one refused void, one refund

    async def test_a_capture_made_by_someone_else_stays_visible(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd())
        await provider.capture(
            authorized.psp_authorization_id, idempotency_key="dashboard", timeout_s=1
        )
        with pytest.raises(ProviderRuleError) as raised:
            await service.void_payment(TENANT, authorized.id)
        assert raised.value.code == "already_captured"


class TestCompensatingRefund:
    async def test_refunds_everything_once_per_operation_key(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        published: list,
    ) -> None:
        payment = await captured(service)
        refund = await service.refund_order_payment(
            TENANT, payment.id, operation_key=f"order:{ORDER}:refund"
        )
        assert refund.status is RefundStatus.SUCCEEDED
        assert refund.amount == Money.of("40.00", "EUR")
        assert refund.user_id is None
        assert store.payments[payment.id].refundable == Money.zero("EUR")
        assert isinstance(published[-1], RefundSucceeded)

        events = len(published)
        again = await service.refund_order_payment(
            TENANT, payment.id, operation_key=f"order:{ORDER}:refund"
        )
        assert again == refund
        assert psp_effects(provider) == (1, 1, 1)
        assert len(published) == events

    async def test_refunds_what_is_left_after_a_merchants_partial_refund(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        payment = await captured(service)
        partial = RefundPayment(
            tenant_id=TENANT,
            user_id=MERCHANT,
            payment_id=payment.id,
            amount=Money.of("15.00", "EUR"),
        )
        ticket = await claim(service, "partial", scope=f"{TENANT}:{MERCHANT}")
        assert (await service.refund_payment(partial, ticket, render_refund)).status == 201
        refund = await service.refund_order_payment(TENANT, payment.id, operation_key="comp")
        assert refund.amount == Money.of("25.00", "EUR")
        assert store.payments[payment.id].refunded == payment.amount

    async def test_nothing_left_is_an_error_unless_this_key_refunded_it(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        payment = await captured(service)
        first = await service.refund_order_payment(TENANT, payment.id, operation_key="a")
        with pytest.raises(RefundExceedsCapturedError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="b")
        assert await service.refund_order_payment(TENANT, payment.id, operation_key="a") == first
        assert len(provider.refunds) == 1

    async def test_the_key_cannot_refund_another_payment(self, service: PaymentService) -> None:
        one, other = await captured(service, 1), await captured(service, 2)
        await service.refund_order_payment(TENANT, one.id, operation_key="k")
        with pytest.raises(ProviderKeyReusedError):
            await service.refund_order_payment(TENANT, other.id, operation_key="k")

    @pytest.mark.parametrize("card", ["tok_ok", "tok_declined"])
    async def test_an_uncaptured_payment_is_not_refundable(
        self, service: PaymentService, card: str
    ) -> None:
        payment = await service.authorize_order_payment(authorize_cmd(card=card))
        with pytest.raises(PaymentNotRefundableError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="k")

    async def test_an_unknown_outcome_stays_pending_and_a_rerun_finishes_it(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        clock: ManualClock,
    ) -> None:
        payment = await captured(service)
        provider.script("refund", LoseAnswer(), LoseAnswer(), LoseAnswer())
        provider.script("find_refund", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="k")
        [pending] = store.refunds.values()
        assert pending.status is RefundStatus.PENDING
        assert store.payments[payment.id].refundable == Money.zero("EUR")  # still promised
        clock.advance(30)
        done = await service.refund_order_payment(TENANT, payment.id, operation_key="k")
        assert (done.id, done.status) == (pending.id, RefundStatus.SUCCEEDED)
        assert len(provider.refunds) == 1

    async def test_a_refund_that_never_reached_the_psp_leaves_no_trace(
        self, service: PaymentService, provider: FakePaymentProvider, store: InMemoryPaymentsStore
    ) -> None:
        payment = await captured(service)
        provider.script("refund", Fail(), Fail(), Fail())
        with pytest.raises(DependencyUnavailableError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="k")
        assert store.refunds == {}
        assert store.payments[payment.id].refundable == payment.amount

    async def test_a_refusal_is_kept_and_answered_again(
        self, service: PaymentService, provider: FakePaymentProvider, store: InMemoryPaymentsStore
    ) -> None:
        payment = await captured(service)
        provider.script("refund", Fail(ProviderRuleError("invalid_state", "no")))
        with pytest.raises(RefundRefusedByProviderError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="k")
        calls = len(provider.calls)
        with pytest.raises(RefundRefusedByProviderError):
            await service.refund_order_payment(TENANT, payment.id, operation_key="k")
        assert len(provider.calls) == calls
        [failed] = store.refunds.values()
        assert failed.status is RefundStatus.FAILED
        assert store.payments[payment.id].refundable == payment.amount


class TestPaymentForOrder:
    async def test_finds_the_orders_newest_payment_in_the_tenant(
        self, service: PaymentService, clock: ManualClock
    ) -> None:
        assert await service.payment_for_order(TENANT, ORDER) is None
        declined = await service.authorize_order_payment(authorize_cmd(card="tok_declined"))
        assert await service.payment_for_order(TENANT, ORDER) == declined
        clock.advance(60)
        retry = AuthorizeOrderPayment(
            tenant_id=TENANT,
            user_id=CUSTOMER,
            order_id=ORDER,
            amount=Money.of("40.00", "EUR"),
            card_token="tok_ok",
            operation_key=f"order:{ORDER}:authorize:2",
        )
        paid = await service.authorize_order_payment(retry)
        assert await service.payment_for_order(TENANT, ORDER) == paid
        assert await service.payment_for_order(TENANT + 1, ORDER) is None
