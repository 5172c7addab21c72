"""The dispatcher on real engines: signed POSTs, the retry schedule, abandon, auto-disable."""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
import pytest
from webhooks_integration_support import (
    PUBLIC_ADDRESS,
    PublicResolver,
    ScriptedReceiver,
    Shop,
    UnitOfWorkFactory,
    seconds_until,
)

from bazaar.contexts.webhooks import (
    DeliveryStatus,
    DispatcherConfig,
    EndpointStatus,
    RegisterEndpoint,
    UrlGuard,
    WebhookDispatcher,
    WebhookService,
    verify,
)
from bazaar.kernel.clock import ManualClock, utc_from_timestamp
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.ssrf import SsrfPolicy


class TestSuccess:
    async def test_a_2xx_succeeds_the_delivery_signed_with_the_endpoint_secret(
        self,
        shop: Shop,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        clock: ManualClock,
    ) -> None:
        (event,) = await shop.events()
        assert await dispatcher.run_once() >= 1
        (request,) = receiver.requests
        delivery = await shop.delivery()
        assert shop.endpoint is not None
        headers = request.headers
        assert request.method == "POST"
        assert str(request.url) == receiver.url
        assert headers["content-type"] == "application/json"
        assert headers["bazaar-event-id"] == event
        assert headers["bazaar-event-type"] == "payments.payment_succeeded"
        assert headers["bazaar-delivery-id"] == str(delivery.id)
        assert headers["bazaar-delivery-attempt"] == "1"
        assert headers["user-agent"].startswith("bazaar-webhooks/")
        signed_at = verify(
            shop.endpoint.secret, headers["bazaar-signature"], request.content, now=clock.now()
        )
        assert signed_at == int(clock.now())
        assert request.content == delivery.payload
        # The connection goes to the address the send-time check approved.
        assert [tuple(map(str, t.addresses)) for t in receiver.targets] == [(PUBLIC_ADDRESS,)]

        assert delivery.status is DeliveryStatus.SUCCEEDED
        assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 200, None)
        assert delivery.next_attempt_at is None
        assert delivery.delivered_at == utc_from_timestamp(clock.now())
        (attempt,) = delivery.attempts_log
        assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, None)

        await dispatcher.run_once()
        assert len(receiver.requests) == 1

    async def test_each_endpoint_gets_its_own_delivery_and_signature(
        self,
        shop: Shop,
        service: WebhookService,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        tenant_id: int,
        clock: ManualClock,
    ) -> None:
        second = await service.register_endpoint(
            RegisterEndpoint(
                tenant_id=tenant_id,
                url=receiver.url + "/second",
                event_types=("payments.payment_succeeded",),
            )
        )
        await shop.events()
        await dispatcher.run_once()
        assert len(receiver.requests) == 2
        by_path = {r.url.path: r for r in receiver.requests}
        assert shop.endpoint is not None
        for secret, path in ((shop.endpoint.secret, "/hooks"), (second.secret, "/hooks/second")):
            request = by_path[path]
            verify(secret, request.headers["bazaar-signature"], request.content, now=clock.now())
        ids = {r.headers["bazaar-delivery-id"] for r in receiver.requests}
        events = {r.headers["bazaar-event-id"] for r in receiver.requests}
        assert (len(ids), len(events)) == (2, 1)


class TestRetries:
    async def test_failures_are_retried_on_the_schedule_until_a_2xx(
        self,
        shop: Shop,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        clock: ManualClock,
    ) -> None:
        receiver.answer(500, 503)
        await shop.events()
        await dispatcher.run_once()
        first = await shop.delivery()
        assert first.status is DeliveryStatus.FAILED
        assert (first.attempts, first.last_status_code, first.last_error) == (1, 500, "HTTP 500")
        assert 4.5 <= seconds_until(clock, first) <= 5.5

        await dispatcher.run_once()  # not due yet
        assert len(receiver.requests) == 1

        clock.advance(seconds_until(clock, first))
        await dispatcher.run_once()
        second = await shop.delivery()
        assert (second.status, second.attempts, second.last_status_code) == (
            DeliveryStatus.FAILED,
            2,
            503,
        )
        assert 54 <= seconds_until(clock, second) <= 66

        clock.advance(seconds_until(clock, second))
        await dispatcher.run_once()
        done = await shop.delivery()
        assert (done.status, done.attempts, done.last_status_code) == (
            DeliveryStatus.SUCCEEDED,
            3,
            200,
        )
        assert [a.status_code for a in done.attempts_log] == [500, 503, 200]
        assert [r.headers["bazaar-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3"]
        # Every attempt is signed afresh, with its own time.
        stamps = [r.headers["bazaar-signature"].split(",")[0] for r in receiver.requests]
        assert len(set(stamps)) == 3

    async def test_nine_failed_attempts_over_about_a_day_abandon_the_delivery(
        self,
        shop: Shop,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        clock: ManualClock,
    ) -> None:
        receiver.error = httpx.ConnectError("connection refused")
        await shop.events()
        started = clock.now()
        for _ in range(20):
            await dispatcher.run_once()
            delivery = await shop.delivery()
            if delivery.next_attempt_at is None:
                break
            clock.advance(seconds_until(clock, delivery))
        assert delivery.status is DeliveryStatus.ABANDONED
        assert delivery.attempts == 9
        assert len(receiver.requests) == 9
        assert [a.number for a in delivery.attempts_log] == list(range(1, 10))
        assert all(a.status_code is None for a in delivery.attempts_log)
        assert all("ConnectError" in (a.error or "") for a in delivery.attempts_log)
        span_h = (delivery.attempts_log[-1].at.timestamp() - started) / 3600
        assert 21 <= span_h <= 26
        # Nine failures are no streak worth disabling for.
        assert (await shop.endpoint_now()).status is EndpointStatus.ACTIVE
        clock.advance(86_400)
        await dispatcher.run_once()
        assert len(receiver.requests) == 9

    async def test_the_url_is_checked_again_before_each_attempt(
        self,
        shop: Shop,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        resolver: PublicResolver,
    ) -> None:
        await shop.events()
        resolver.overrides[receiver.host] = "169.254.169.254"  # DNS rebound since registration
        await dispatcher.run_once()
        assert receiver.requests == []
        delivery = await shop.delivery()
        assert delivery.status is DeliveryStatus.FAILED
        assert delivery.last_status_code is None
        assert delivery.last_error == "refused by the SSRF guard (private-address)"

    async def test_a_claimed_delivery_is_held_while_in_flight_then_due_again(
        self,
        shop: Shop,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        unit_of_work: UnitOfWorkFactory,
        clock: ManualClock,
    ) -> None:
        await shop.events()
        now = utc_from_timestamp(clock.now())
        uow = unit_of_work()
        async with uow:  # a dispatcher that claims, then dies before recording
            claimed = await uow.deliveries.claim_due(now, now + timedelta(seconds=60), 200)
            await uow.commit()
        assert [d.endpoint_id for d in claimed if d.tenant_id == shop.tenant_id] == [
            shop.endpoint.id if shop.endpoint else None
        ]
        await dispatcher.run_once()
        assert receiver.requests == []
        clock.advance(60)
        await dispatcher.run_once()
        assert len(receiver.requests) == 1
        assert (await shop.delivery()).status is DeliveryStatus.SUCCEEDED


class TestAutoDisable:
    async def test_twenty_failures_over_an_hour_disable_and_enable_resumes(
        self,
        shop: Shop,
        service: WebhookService,
        dispatcher: WebhookDispatcher,
        receiver: ScriptedReceiver,
        tenant_id: int,
        clock: ManualClock,
    ) -> None:
        receiver.answer(*[500] * 24)
        await shop.events(12)
        await dispatcher.run_once()  # 12 failures at t0
        assert (await shop.endpoint_now()).status is EndpointStatus.ACTIVE
        clock.advance(3600)
        await dispatcher.run_once()  # 12 more; the 20th, an hour on, disables
        endpoint = await shop.endpoint_now()
        assert endpoint.status is EndpointStatus.DISABLED
        assert endpoint.disabled_reason is not None
        assert endpoint.disabled_reason.startswith("20 consecutive failed attempts since")
        assert endpoint.disabled_at == utc_from_timestamp(clock.now())
        waiting = await shop.deliveries()
        assert {d.status for d in waiting} == {DeliveryStatus.FAILED}
        assert all(d.next_attempt_at is None for d in waiting)

        clock.advance(10 * 3600)
        await dispatcher.run_once()
        assert len(receiver.requests) == 24
        await shop.events()  # no delivery for a disabled endpoint
        assert len(await shop.deliveries()) == 12

        assert shop.endpoint is not None
        enabled = await service.enable_endpoint(tenant_id, shop.endpoint.id)
        assert (enabled.status, enabled.disabled_reason, enabled.disabled_at) == (
            EndpointStatus.ACTIVE,
            None,
            None,
        )
        resumed = await shop.deliveries()
        assert all(seconds_until(clock, d) == pytest.approx(0, abs=1e-3) for d in resumed)
        await dispatcher.run_once()
        assert {d.status for d in await shop.deliveries()} == {DeliveryStatus.SUCCEEDED}
        assert len(receiver.requests) == 36

    async def test_a_success_ends_the_streak(
        self,
        shop: Shop,
        unit_of_work: UnitOfWorkFactory,
        receiver: ScriptedReceiver,
        resolver: PublicResolver,
        clock: ManualClock,
    ) -> None:
        # One attempt at a time, soonest due first: the order of outcomes is the script's.
        dispatcher = WebhookDispatcher(
            unit_of_work=unit_of_work,
            sender=receiver.sender(),
            guard=UrlGuard(SsrfPolicy(), resolver),
            clock=clock,
            leases=InMemoryLeaseStore(clock),
            holder="serial",
            config=DispatcherConfig(batch_size=200, max_concurrent=1),
            rng=random.Random(9),
        )
        receiver.answer(*[500] * 19)
        await shop.events(19)
        await dispatcher.run_once()
        assert (await shop.endpoint_now()).consecutive_failures == 19
        await shop.events()  # due now, before the retries of the others
        clock.advance(2 * 3600)
        receiver.answer(200, *[500] * 19)
        await dispatcher.run_once()
        endpoint = await shop.endpoint_now()
        # 19 + 19 failures, but never 20 in a row: the success between them reset the streak.
        assert endpoint.status is EndpointStatus.ACTIVE
        assert endpoint.consecutive_failures == 19
        assert endpoint.failing_since == utc_from_timestamp(clock.now())
