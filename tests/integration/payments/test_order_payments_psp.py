"""A checkout saga's payment on SQLite and PostgreSQL, through the real PSP simulator.

The service runs on a migrated database and talks HTTP to the simulator in process (as
tests/e2e/payments does). The simulator's own counters show every PSP effect, so each
re-run can be checked to have made none.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bazaar.contexts.payments import (
    AuthorizeOrderPayment,
    Payment,
    PaymentNotVoidableError,
    PaymentOutcomeUnknownError,
    PaymentService,
    PaymentStatus,
    RefundStatus,
)
from bazaar.contexts.payments.adapters import (
    HttpPspClient,
    SqlPaymentsReadModel,
    SqlPaymentsUnitOfWork,
)
from bazaar.contexts.payments.adapters.tables import payments
from bazaar.infra.db import Database
from bazaar.infra.db.messaging_tables import outbox
from bazaar.kernel.breaker import BreakerConfig, BreakerState, CircuitBreaker
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import (
    DependencyGuard,
    DependencyPolicy,
    DependencyUnavailableError,
)
from bazaar.kernel.retry import RetryPolicy
from bazaar.psp.testing import TEST_API_KEY, PspHarness, running_psp

USER = 7


@dataclass
class LosingTransport(httpx.AsyncBaseTransport):
    """The way to the simulator, losing answers when told to.

    ``lose`` answers of requests the simulator acted on are dropped as a read timeout (it
    did act: only a lookup by key can tell); ``refuse_lookups`` fails those lookups.
    """

    inner: httpx.AsyncBaseTransport
    lose: int = 0
    refuse_lookups: bool = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lookup = request.url.path.startswith("/v1/idempotency/")
        if lookup and self.refuse_lookups:
            raise httpx.ConnectError("lookup refused (injected)", request=request)
        response = await self.inner.handle_async_request(request)
        if not lookup and self.lose > 0:
            self.lose -= 1
            await response.aread()
            raise httpx.ReadTimeout("answer lost (injected)", request=request)
        return response


@pytest.fixture
async def psp(tmp_path: Path) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path / "psp", clock=ManualClock(start=time.time()), rng=random.Random(5)
    ) as harness:
        yield harness


@pytest.fixture
def transport(psp: PspHarness) -> LosingTransport:
    return LosingTransport(httpx.ASGITransport(app=psp.app))


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("psp", BreakerConfig(consecutive_failures=5, cooldown_s=30), clock)


@pytest.fixture
async def service(
    database: Database,
    transport: LosingTransport,
    breaker: CircuitBreaker,
    clock: ManualClock,
    ids: SnowflakeGenerator,
) -> AsyncIterator[PaymentService]:
    policy = DependencyPolicy(timeout_s=5.0, retry=RetryPolicy(max_attempts=2))
    guard = DependencyGuard("psp", policy, breaker=breaker, clock=clock, rng=random.Random(3))
    provider = HttpPspClient(base_url="http://psp.test", api_key=TEST_API_KEY, transport=transport)
    service = PaymentService(
        unit_of_work=lambda: SqlPaymentsUnitOfWork(database.sessions),
        reads=SqlPaymentsReadModel(database.read_sessions),
        provider=provider,
        guard=guard,
        ids=ids,
        clock=clock,
    )
    yield service
    await service.aclose()


def authorize_cmd(tenant_id: int, order_id: int = 1, card: str = "tok_ok") -> AuthorizeOrderPayment:
    return AuthorizeOrderPayment(
        tenant_id=tenant_id,
        user_id=USER,
        order_id=order_id,
        amount=Money.of("25.50", "EUR"),
        card_token=card,
        operation_key=f"order:{order_id}:authorize",
    )


async def psp_counts(psp: PspHarness) -> dict[str, Any]:
    """What the simulator did and was asked: authorizations by status, refunds, requests."""
    stats = await psp.stats()
    by_status = {k: v for k, v in stats["authorizations"]["by_status"].items() if v}
    return {
        "authorizations": by_status,
        "refunds": stats["refunds"]["total"],
        "requests": dict(stats["requests"]["by_operation"]),
    }


async def rows(database: Database, tenant_id: int) -> list[Any]:
    async with database.engine.connect() as conn:
        query = select(payments).where(payments.c.tenant_id == tenant_id)
        return list((await conn.execute(query)).all())


async def event_types(database: Database, payment: Payment) -> list[str]:
    async with database.engine.connect() as conn:
        query = select(outbox.c.type).where(outbox.c.key == str(payment.id)).order_by(outbox.c.seq)
        return list((await conn.execute(query)).scalars())


class TestSagaPaths:
    async def test_authorize_capture_refund_and_every_rerun_changes_nothing(
        self, service: PaymentService, psp: PspHarness, database: Database, tenant_id: int
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd(tenant_id))
        assert authorized.status is PaymentStatus.AUTHORIZED
        payment = await service.capture_payment(tenant_id, authorized.id)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert payment.captured_at is not None
        refund = await service.refund_order_payment(
            tenant_id, payment.id, operation_key="order:1:refund"
        )
        assert (refund.status, refund.amount) == (RefundStatus.SUCCEEDED, payment.amount)
        done = await psp_counts(psp)
        assert done == {
            "authorizations": {"captured": 1},
            "refunds": 1,
            "requests": {"authorize": 1, "capture": 1, "refund": 1},
        }

        # The payment as it is now: a re-run of an earlier step never goes back.
        rerun = await service.authorize_order_payment(authorize_cmd(tenant_id))
        assert (rerun.id, rerun.status) == (authorized.id, PaymentStatus.SUCCEEDED)
        again = await service.capture_payment(tenant_id, payment.id)
        assert (again.status, again.refunded) == (PaymentStatus.SUCCEEDED, payment.amount)
        assert (
            await service.refund_order_payment(
                tenant_id, payment.id, operation_key="order:1:refund"
            )
            == refund
        )
        assert await psp_counts(psp) == done
        assert len(await rows(database, tenant_id)) == 1
        assert await service.payment_for_order(tenant_id, 1) == again
        assert await event_types(database, payment) == [
            "payments.payment_authorized",
            "payments.payment_captured",
            "payments.refund_succeeded",
        ]

    async def test_authorize_then_void(
        self, service: PaymentService, psp: PspHarness, database: Database, tenant_id: int
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd(tenant_id))
        voided = await service.void_payment(tenant_id, authorized.id)
        assert voided.status is PaymentStatus.VOIDED
        done = await psp_counts(psp)
        assert done["authorizations"] == {"voided": 1}
        assert await service.void_payment(tenant_id, authorized.id) == voided
        assert await service.authorize_order_payment(authorize_cmd(tenant_id)) == voided
        assert await psp_counts(psp) == done
        assert await event_types(database, voided) == [
            "payments.payment_authorized",
            "payments.payment_voided",
        ]

    async def test_a_decline_is_recorded_once(
        self, service: PaymentService, psp: PspHarness, tenant_id: int
    ) -> None:
        declined = await service.authorize_order_payment(
            authorize_cmd(tenant_id, card="tok_declined")
        )
        assert (declined.status, declined.decline_code) == (PaymentStatus.DECLINED, "card_declined")
        assert (
            await service.authorize_order_payment(authorize_cmd(tenant_id, card="tok_declined"))
            == declined
        )
        assert await service.void_payment(tenant_id, declined.id) == declined
        assert await psp_counts(psp) == {
            "authorizations": {"declined": 1},
            "refunds": 0,
            "requests": {"authorize": 1},
        }

    async def test_a_captured_payment_cannot_be_voided(
        self, service: PaymentService, psp: PspHarness, tenant_id: int
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd(tenant_id))
        await service.capture_payment(tenant_id, authorized.id)
        with pytest.raises(PaymentNotVoidableError):
            await service.void_payment(tenant_id, authorized.id)
        assert "void" not in (await psp_counts(psp))["requests"]


class TestLostAnswers:
    async def test_a_timed_out_authorize_is_resolved_by_asking_the_psp(
        self,
        service: PaymentService,
        psp: PspHarness,
        transport: LosingTransport,
        database: Database,
        tenant_id: int,
    ) -> None:
        transport.lose = 2  # every attempt the guard makes
        payment = await service.authorize_order_payment(authorize_cmd(tenant_id))
        assert payment.status is PaymentStatus.AUTHORIZED
        counts = await psp_counts(psp)
        assert counts["authorizations"] == {"authorized": 1}
        assert counts["requests"] == {"authorize": 2, "idempotency": 1}
        assert len(await rows(database, tenant_id)) == 1

    async def test_a_timed_out_capture_is_resolved_by_asking_the_psp(
        self, service: PaymentService, psp: PspHarness, transport: LosingTransport, tenant_id: int
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd(tenant_id))
        transport.lose = 2
        payment = await service.capture_payment(tenant_id, authorized.id)
        assert payment.status is PaymentStatus.SUCCEEDED
        counts = await psp_counts(psp)
        assert counts["authorizations"] == {"captured": 1}
        assert counts["requests"] == {"authorize": 1, "capture": 2, "idempotency": 1}

    async def test_an_unknown_capture_is_found_by_the_void_that_compensates_it(
        self,
        service: PaymentService,
        psp: PspHarness,
        transport: LosingTransport,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        authorized = await service.authorize_order_payment(authorize_cmd(tenant_id))
        transport.lose, transport.refuse_lookups = 2, True
        with pytest.raises(PaymentOutcomeUnknownError):
            await service.capture_payment(tenant_id, authorized.id)
        transport.refuse_lookups = False
        clock.advance(30)
        with pytest.raises(PaymentNotVoidableError):
            await service.void_payment(tenant_id, authorized.id)
        refund = await service.refund_order_payment(
            tenant_id, authorized.id, operation_key="order:1:refund"
        )
        assert refund.amount == authorized.amount
        counts = await psp_counts(psp)
        assert (counts["authorizations"], counts["refunds"]) == ({"captured": 1}, 1)

    async def test_concurrent_reruns_authorize_once(
        self,
        service: PaymentService,
        psp: PspHarness,
        database: Database,
        clock: ManualClock,
        tenant_id: int,
    ) -> None:
        cmd = authorize_cmd(tenant_id)
        results = await asyncio.gather(
            *(service.authorize_order_payment(cmd) for _ in range(5)), return_exceptions=True
        )
        paid = [r for r in results if isinstance(r, Payment)]
        assert paid, results
        assert all(r == paid[0] for r in paid)
        # The others met the PSP's "key in flight": the outcome was unknown to them, never
        # guessed; a later re-run finds the one authorization.
        others = [r for r in results if not isinstance(r, Payment)]
        assert all(
            isinstance(r, PaymentOutcomeUnknownError | DependencyUnavailableError) for r in others
        )
        clock.advance(30)
        assert await service.authorize_order_payment(cmd) == paid[0]
        assert (await psp_counts(psp))["authorizations"] == {"authorized": 1}
        assert len(await rows(database, tenant_id)) == 1


class TestBreaker:
    async def test_an_open_breaker_refuses_without_calling_the_psp(
        self, service: PaymentService, psp: PspHarness, breaker: CircuitBreaker, tenant_id: int
    ) -> None:
        done = await service.authorize_order_payment(authorize_cmd(tenant_id, order_id=1))
        response = await psp.client.put("/v1/admin/faults", json={"outage": True})
        assert response.status_code == 200
        for order_id in (2, 3):
            with pytest.raises(PaymentOutcomeUnknownError):
                await service.authorize_order_payment(authorize_cmd(tenant_id, order_id))
        assert (await breaker.snapshot()).state is BreakerState.OPEN
        asked = (await psp.stats())["requests"]["total"]

        with pytest.raises(DependencyUnavailableError) as raised:
            await service.authorize_order_payment(authorize_cmd(tenant_id, order_id=4))
        assert raised.value.reason == "breaker_open"
        with pytest.raises(DependencyUnavailableError):
            await service.capture_payment(tenant_id, done.id)
        assert (await psp.stats())["requests"]["total"] == asked
        # Recorded already: returned without the PSP.
        assert await service.authorize_order_payment(authorize_cmd(tenant_id, 1)) == done
