"""The payments unit of work on real engines: key + payment atomic, refunds bounded, inbox once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bazaar.contexts.payments.adapters import SqlPaymentsUnitOfWork
from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.contexts.payments.domain.model import Payment, PaymentStatus, provider_key
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.idempotency import Decision, StoredResponse
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.money import Money


def a_payment(ids: SnowflakeGenerator, tenant_id: int, key: str, amount: str = "50.00") -> Payment:
    now = datetime.now(tz=UTC)
    return Payment(
        id=ids.next_id(),
        tenant_id=tenant_id,
        user_id=7,
        amount=Money.of(amount, "EUR"),
        status=PaymentStatus.SUCCEEDED,
        psp_authorization_id=f"auth_{ids.next_id()}",
        provider_key=provider_key(tenant_id, 7, key),
        decline_code=None,
        description=None,
        refunded=Money.zero("EUR"),
        captured_at=now,
        created_at=now,
        updated_at=now,
    )


class Boom(Exception):
    pass


def an_event(ids: SnowflakeGenerator, tenant_id: int) -> PaymentSucceeded:
    return PaymentSucceeded(
        id=ids.next_id(),
        occurred_at=datetime.now(tz=UTC),
        tenant_id=tenant_id,
        payment_id=ids.next_id(),
        user_id=7,
        amount=Money.of("1.00", "EUR"),
    )


class TestKeyAndPaymentCommitTogether:
    async def test_a_failure_before_commit_keeps_neither(
        self, database: Database, ids: SnowflakeGenerator, clock: ManualClock, tenant_id: int
    ) -> None:
        scope, now = f"{tenant_id}:7", clock.now()
        uow = SqlPaymentsUnitOfWork(database.sessions)
        async with uow:
            claim = await uow.idempotency.claim(scope, "k", "fp", now)
            await uow.commit()
        assert claim.decision is Decision.PROCEED
        assert claim.lock_token is not None
        payment = a_payment(ids, tenant_id, "k")
        with pytest.raises(Boom):
            async with uow:
                await uow.idempotency.complete(
                    scope, "k", claim.lock_token, StoredResponse(201, b"{}"), now
                )
                await uow.payments.add(payment)
                raise Boom
        async with uow:
            assert await uow.payments.get(tenant_id, payment.id) is None
            again = await uow.idempotency.claim(scope, "k", "fp", now)
        assert again.decision is Decision.IN_FLIGHT  # still claimed, never completed

        async with uow:
            await uow.idempotency.complete(
                scope, "k", claim.lock_token, StoredResponse(201, b"{}"), now
            )
            await uow.payments.add(payment)
            await uow.commit()
        async with uow:
            assert await uow.payments.get(tenant_id, payment.id) == payment
            replay = await uow.idempotency.claim(scope, "k", "fp", now)
        assert replay.decision is Decision.REPLAY

    async def test_events_of_a_rolled_back_transaction_are_dropped(
        self, database: Database, ids: SnowflakeGenerator, tenant_id: int
    ) -> None:
        uow = SqlPaymentsUnitOfWork(database.sessions)
        async with uow:
            uow.events.append(an_event(ids, tenant_id))
            await uow.commit()
        with pytest.raises(Boom):
            async with uow:
                uow.events.append(an_event(ids, tenant_id))
                raise Boom
        assert len(uow.events) == 1


class TestRefundReservations:
    async def test_concurrent_reservations_never_pass_the_amount(
        self, database: Database, ids: SnowflakeGenerator, tenant_id: int
    ) -> None:
        payment = a_payment(ids, tenant_id, "p", "50.00")
        async with SqlPaymentsUnitOfWork(database.sessions) as uow:
            await uow.payments.add(payment)
            await uow.commit()

        async def reserve(minor: int) -> bool:
            async with SqlPaymentsUnitOfWork(database.sessions) as uow:
                reserved = await uow.payments.reserve_refund(
                    tenant_id, payment.id, minor, datetime.now(tz=UTC)
                )
                await uow.commit()
                return reserved

        results = await asyncio.gather(*(reserve(700) for _ in range(10)))
        assert results.count(True) == 7  # 7 x 7.00 <= 50.00 < 8 x 7.00
        async with SqlPaymentsUnitOfWork(database.sessions) as uow:
            stored = await uow.payments.get(tenant_id, payment.id)
            assert stored is not None
            assert stored.refunded == Money.of("49.00", "EUR")
            # Another tenant cannot touch it, even knowing the id.
            assert not await uow.payments.reserve_refund(
                tenant_id + 1, payment.id, 1, datetime.now(tz=UTC)
            )


class TestWebhookInbox:
    async def test_an_event_id_is_recorded_once(self, database: Database, tenant_id: int) -> None:
        event_id = f"evt_{tenant_id}"

        async def record() -> bool:
            async with SqlPaymentsUnitOfWork(database.sessions) as uow:
                added = await uow.webhook_events.add(event_id, "x", b"{}", datetime.now(tz=UTC))
                await uow.commit()
                return added

        assert sorted(await asyncio.gather(*(record() for _ in range(5)))) == [False] * 4 + [True]
