"""Creating payments with a fake PSP: declines stored, breaker fails fast, lookups not guesses."""

from __future__ import annotations

import orjson
import pytest
from payments_unit_support import CUSTOMER, SCOPE, TENANT, claim, render_payment

from bazaar.contexts.payments import (
    CreatePayment,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    PaymentService,
    PaymentStatus,
)
from bazaar.contexts.payments.adapters import (
    Fail,
    FakePaymentProvider,
    InFlight,
    InMemoryPaymentsStore,
    LoseAnswer,
)
from bazaar.kernel.breaker import BreakerState, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.idempotency import Decision
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import DependencyUnavailableError


def command(card: str = "tok_ok", amount: str = "19.99", user_id: int = CUSTOMER) -> CreatePayment:
    return CreatePayment(
        tenant_id=TENANT, user_id=user_id, amount=Money.of(amount, "EUR"), card_token=card
    )


class TestOutcomes:
    async def test_a_charge_is_recorded_with_its_response_in_one_commit(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        ticket = await claim(service, "k")
        commits = store.commits
        response = await service.create_payment(command(), ticket, render_payment)
        assert store.commits == commits + 1
        [payment] = store.payments.values()
        assert payment.status is PaymentStatus.SUCCEEDED
        assert orjson.loads(response.body)["id"] == payment.id
        replay = await service.claim_key(SCOPE, "k", "fingerprint-of-k")
        assert replay.decision is Decision.REPLAY
        assert replay.response == response

    async def test_a_decline_is_an_outcome_stored_for_replays(
        self, service: PaymentService, store: InMemoryPaymentsStore
    ) -> None:
        ticket = await claim(service, "k")
        response = await service.create_payment(command("tok_declined"), ticket, render_payment)
        [payment] = store.payments.values()
        assert payment.status is PaymentStatus.DECLINED
        assert payment.decline_code == "card_declined"
        assert payment.refundable == Money.zero("EUR")
        assert (await service.claim_key(SCOPE, "k", "fingerprint-of-k")).response == response

    async def test_a_refusal_records_nothing_and_is_not_a_breaker_failure(
        self, service: PaymentService, store: InMemoryPaymentsStore, breaker: CircuitBreaker
    ) -> None:
        for i in range(6):
            with pytest.raises(PaymentRejectedError):
                await service.create_payment(command("tok_nope"), await claim(service, f"k{i}"),
                                             render_payment)  # fmt: skip
        assert store.payments == {}
        assert (await breaker.snapshot()).state is BreakerState.CLOSED

    async def test_the_psp_key_is_derived_from_the_callers_key(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        await service.create_payment(command(), await claim(service, "k"), render_payment)
        ticket = await claim(service, "k", scope=f"{TENANT}:{CUSTOMER + 1}")
        await service.create_payment(command(user_id=CUSTOMER + 1), ticket, render_payment)
        keys = [call.idempotency_key for call in provider.calls]
        assert len(set(keys)) == 2
        assert all(len(key) == 64 for key in keys)


class TestUnavailable:
    async def test_failed_attempts_are_retried_with_the_same_psp_key(
        self, service: PaymentService, provider: FakePaymentProvider, store: InMemoryPaymentsStore
    ) -> None:
        provider.script("authorize", Fail(), Fail())
        await service.create_payment(command(), await claim(service, "k"), render_payment)
        assert len({call.idempotency_key for call in provider.calls}) == 1
        assert provider.effects("authorize") == 3
        assert len(store.payments) == 1

    async def test_an_open_breaker_fails_fast_without_calling_the_psp(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        breaker: CircuitBreaker,
    ) -> None:
        provider.script("authorize", *[Fail()] * 3)
        provider.script("find_authorization", Fail())
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.create_payment(command(), await claim(service, "a"), render_payment)
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        calls = len(provider.calls)

        ticket = await claim(service, "b")
        with pytest.raises(DependencyUnavailableError) as raised:
            await service.create_payment(command(), ticket, render_payment)
        assert raised.value.reason == "breaker_open"
        assert raised.value.retry_after_s > 1
        assert len(provider.calls) == calls
        assert store.payments == {}
        # The HTTP layer releases the key; a retry after the cooldown then charges once.
        await service.release_key(ticket.scope, ticket.key, ticket.lock_token)
        assert (
            await service.claim_key(SCOPE, "b", "fingerprint-of-b")
        ).decision is Decision.PROCEED


class TestAmbiguousOutcomes:
    async def test_a_lost_answer_is_resolved_by_one_lookup(
        self, service: PaymentService, provider: FakePaymentProvider, store: InMemoryPaymentsStore
    ) -> None:
        provider.script("authorize", LoseAnswer(), LoseAnswer(), LoseAnswer())
        await service.create_payment(command(), await claim(service, "k"), render_payment)
        assert provider.effects("find_authorization") == 1
        assert len(provider.authorizations) == 1
        [payment] = store.payments.values()
        assert payment.psp_authorization_id == next(iter(provider.authorizations.values())).id

    async def test_nothing_at_the_psp_means_unavailable_not_unknown(
        self, service: PaymentService, provider: FakePaymentProvider
    ) -> None:
        provider.script("authorize", Fail(), Fail(), Fail())
        with pytest.raises(DependencyUnavailableError) as raised:
            await service.create_payment(command(), await claim(service, "k"), render_payment)
        assert raised.value.reason == "failed"
        assert provider.effects("find_authorization") == 1

    @pytest.mark.parametrize("lookup", [InFlight(), Fail()])
    async def test_an_unknown_outcome_is_never_guessed(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
        clock: ManualClock,
        lookup: InFlight | Fail,
    ) -> None:
        provider.script("authorize", LoseAnswer(), Fail(), Fail())
        provider.script("find_authorization", lookup)
        ticket = await claim(service, "k")
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.create_payment(command(), ticket, render_payment)
        assert store.payments == {}
        # The key is released by the HTTP layer; the retry (once the breaker has cooled down,
        # if the failures opened it) finds the one charge.
        await service.release_key(ticket.scope, ticket.key, ticket.lock_token)
        clock.advance(30)
        await service.create_payment(command(), await claim(service, "k"), render_payment)
        assert len(provider.authorizations) == 1
        assert len(store.payments) == 1

    async def test_a_key_reused_after_its_record_expired_finds_the_same_payment(
        self,
        service: PaymentService,
        provider: FakePaymentProvider,
        store: InMemoryPaymentsStore,
    ) -> None:
        first = await service.create_payment(command(), await claim(service, "k"), render_payment)
        store.idempotency.records.clear()  # 24 h later
        again = await service.create_payment(command(), await claim(service, "k"), render_payment)
        assert again == first
        assert len(store.payments) == len(provider.authorizations) == 1
