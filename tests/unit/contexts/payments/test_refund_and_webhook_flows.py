"""Refunds and PSP events with a fake PSP: reservations bound refunds; unknown stays pending."""

from __future__ import annotations

import orjson
import pytest
from payments_unit_support import CUSTOMER, MERCHANT, TENANT, claim, render_payment, render_refund

from bazaar.contexts.payments import (
    CreatePayment,
    InvalidRefundError,
    Payment,
    PaymentNotFoundError,
    PaymentOutcomeUnknownError,
    PaymentService,
    RecordPspEvent,
    RefundPayment,
    RefundStatus,
)
from bazaar.contexts.payments.adapters import (
    Fail,
    FakePaymentProvider,
    InFlight,
    InMemoryPaymentsStore,
    LoseAnswer,
)
from bazaar.contexts.payments.domain.errors import ProviderKeyReusedError, ProviderRuleError
from bazaar.kernel.breaker import CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyUnavailableError

MERCHANT_SCOPE = f"{TENANT}:{MERCHANT}"


async def paid(service: PaymentService, store: InMemoryPaymentsStore, amount: str) -> Payment:
    cmd = CreatePayment(
        tenant_id=TENANT, user_id=CUSTOMER, amount=Money.of(amount, "EUR"), card_token="tok_ok"
    )
    response = await service.create_payment(cmd, await claim(service, "pay"), render_payment)
    return store.payments[orjson.loads(response.body)["id"]]


def refund(payment: Payment, amount: str | None = None, tenant_id: int = TENANT) -> RefundPayment:
    money = None if amount is None else Money.of(amount, "EUR")
    return RefundPayment(tenant_id=tenant_id, user_id=MERCHANT, payment_id=payment.id, amount=money)


async def refund_with(service: PaymentService, key: str, cmd: RefundPayment) -> tuple[int, dict]:
    ticket = await claim(service, key, scope=MERCHANT_SCOPE)
    response = await service.refund_payment(cmd, ticket, render_refund)
    return response.status, orjson.loads(response.body)


class TestRefunds:
    async def test_refunds_are_bounded_and_the_refusal_is_stored(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        payment = await paid(service, store, "30.00")
        assert (await refund_with(service, "a", refund(payment, "20.00")))[0] == 201
        status, body = await refund_with(service, "b", refund(payment, "10.01"))
        assert status == 409
        assert "10.00 EUR left" in body["detail"]
        assert (await refund_with(service, "c", refund(payment)))[0] == 201
        assert store.payments[payment.id].refunded == Money.of("30.00", "EUR")

    async def test_requests_that_do_not_fit_raise_before_any_effect(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        payment = await paid(service, store, "5.00")
        with pytest.raises(PaymentNotFoundError):
            await refund_with(service, "x", refund(payment, tenant_id=TENANT + 1))
        usd = RefundPayment(
            tenant_id=TENANT, user_id=MERCHANT, payment_id=payment.id, amount=Money.of(1, "USD")
        )
        with pytest.raises(InvalidRefundError):
            await refund_with(service, "y", usd)
        assert store.refunds == {}

    async def test_a_psp_refusal_fails_the_refund_and_gives_the_amount_back(
        self, service: PaymentService, store: InMemoryPaymentsStore, provider: FakePaymentProvider
    ) -> None:
        payment = await paid(service, store, "8.00")
        provider.script("refund", Fail(ProviderRuleError("invalid_state", "no")))
        status, _ = await refund_with(service, "r", refund(payment))
        assert status == 409
        [failed] = store.refunds.values()
        assert failed.status is RefundStatus.FAILED
        assert store.payments[payment.id].refunded == Money.zero("EUR")

    async def test_an_unknown_outcome_keeps_the_reservation_and_the_retry_finishes_it(
        self,
        service: PaymentService,
        store: InMemoryPaymentsStore,
        provider: FakePaymentProvider,
        clock: ManualClock,
    ) -> None:
        payment = await paid(service, store, "8.00")
        provider.script("refund", LoseAnswer(), LoseAnswer(), LoseAnswer())
        provider.script("find_refund", InFlight())
        ticket = await claim(service, "r", scope=MERCHANT_SCOPE)
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.refund_payment(refund(payment, "3.00"), ticket, render_refund)
        [pending] = store.refunds.values()
        assert pending.status is RefundStatus.PENDING
        # Promised back already: another refund cannot take the same money.
        assert (await refund_with(service, "other", refund(payment, "5.01")))[0] == 409

        await service.release_key(ticket.scope, ticket.key, ticket.lock_token)
        clock.advance(30)
        status, _ = await refund_with(service, "r", refund(payment, "3.00"))
        assert status == 201
        assert store.refunds[pending.id].status is RefundStatus.SUCCEEDED
        assert len(provider.refunds) == 1
        assert store.payments[payment.id].refunded == Money.of("3.00", "EUR")

    async def test_a_released_key_cannot_be_resumed_for_another_refund(
        self, service: PaymentService, store: InMemoryPaymentsStore, provider: FakePaymentProvider
    ) -> None:
        payment = await paid(service, store, "8.00")
        provider.script("refund", *[LoseAnswer()] * 3)
        provider.script("find_refund", InFlight())
        ticket = await claim(service, "r", scope=MERCHANT_SCOPE)
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.refund_payment(refund(payment, "3.00"), ticket, render_refund)
        await service.release_key(ticket.scope, ticket.key, ticket.lock_token)
        with pytest.raises(ProviderKeyReusedError):
            await refund_with(service, "r", refund(payment, "4.00"))
        [pending] = store.refunds.values()
        assert pending.amount == Money.of("3.00", "EUR")

    async def test_a_refund_that_never_reached_the_psp_leaves_no_trace(
        self,
        service: PaymentService,
        store: InMemoryPaymentsStore,
        provider: FakePaymentProvider,
        breaker: CircuitBreaker,
    ) -> None:
        payment = await paid(service, store, "8.00")
        provider.script("refund", *[Fail()] * 3)
        with pytest.raises(DependencyUnavailableError):
            await refund_with(service, "r", refund(payment))
        assert store.refunds == {}
        assert store.payments[payment.id].refunded == Money.zero("EUR")


class TestPspEvents:
    def event(self, event_id: str, kind: str, **data: object) -> RecordPspEvent:
        return RecordPspEvent(event_id=event_id, event_type=kind, data=data, payload=b"{}")

    async def test_a_refund_made_at_the_psp_is_recorded_once(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        payment = await paid(service, store, "10.00")
        event = self.event(
            "evt_1",
            "refund.succeeded",
            id="re_x",
            authorization_id=payment.psp_authorization_id,
            amount="4.00",
            currency="EUR",
        )
        assert await service.record_psp_event(event) is True
        assert await service.record_psp_event(event) is False
        assert store.payments[payment.id].refunded == Money.of("4.00", "EUR")
        assert store.webhook_events["evt_1"] == ("refund.succeeded", "external_refund_recorded")

    async def test_an_event_for_a_payment_with_a_pending_refund_is_left_to_that_refund(
        self, service: PaymentService, store: InMemoryPaymentsStore, provider: FakePaymentProvider
    ) -> None:
        payment = await paid(service, store, "10.00")
        provider.script("refund", *[LoseAnswer()] * 3)
        provider.script("find_refund", InFlight())
        with pytest.raises(PaymentOutcomeUnknownError):
            await refund_with(service, "r", refund(payment, "4.00"))
        [psp_refund] = provider.refunds.values()
        event = self.event(
            "evt_2",
            "refund.succeeded",
            id=psp_refund.id,
            authorization_id=payment.psp_authorization_id,
            amount="4.00",
            currency="EUR",
        )
        await service.record_psp_event(event)
        assert store.webhook_events["evt_2"][1] == "deferred"
        assert store.payments[payment.id].refunded == Money.of("4.00", "EUR")

    @pytest.mark.parametrize(
        ("kind", "data", "effect"),
        [
            ("authorization.captured", {"id": "auth_unknown"}, "unknown_authorization"),
            ("authorization.captured", {}, "malformed"),
            ("dispute.created", {"id": "dp_1"}, "ignored"),
        ],
    )
    async def test_other_events_are_recorded_with_what_they_did(
        self, service: PaymentService, store: InMemoryPaymentsStore, kind: str,
        data: dict[str, object], effect: str,
    ) -> None:  # fmt: skip
        await service.record_psp_event(self.event("evt", kind, **data))
        assert store.webhook_events["evt"] == (kind, effect)
