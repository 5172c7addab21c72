"""Deliveries over HTTP: the list with every attempt, replay, enable; and the worker wiring."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from webhooks_http_support import PublicResolver, Receiver, Shop, WebhooksApi, payment_event

from bazaar.bootstrap import CONSUMER_TOPICS, build_webhooks, build_worker
from bazaar.contexts.webhooks import (
    DisablePolicy,
    DispatcherConfig,
    RetrySchedule,
    WebhookDispatcher,
    verify,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging import Subscription
from bazaar.testing.app import AppHarness
from bazaar.testing.identity import assert_problem


class Worker:
    """The webhooks consumer and dispatcher of the app's container, driven step by step."""

    def __init__(self, app: AppHarness, receiver: Receiver, config: DispatcherConfig) -> None:
        self.receiver = receiver
        parts: tuple[Subscription, WebhookDispatcher] = build_webhooks(
            app.container, sender=receiver.sender(), resolver=PublicResolver(), config=config
        )
        self.subscription, self.dispatcher = parts

    async def event(self, tenant_id: str) -> str:
        event_id = str(uuid.uuid4())
        envelope = payment_event(event_id, tenant_id)
        handler = self.subscription.handler_for(envelope.type)
        assert handler is not None
        await handler(envelope)
        return event_id

    async def dispatch(self) -> None:
        await self.dispatcher.run_once()


@pytest.fixture
async def shop(api: WebhooksApi) -> Shop:
    return await api.shop()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def worker(app: AppHarness, receiver: Receiver) -> AsyncIterator[Worker]:
    # Two attempts then abandoned; disabled after 3 failures in a row, at once.
    config = DispatcherConfig(
        batch_size=200,
        schedule=RetrySchedule(delays_s=(5.0,)),
        disable=DisablePolicy(consecutive_failures=3, failing_for_s=0),
    )
    made = Worker(app, receiver, config)
    yield made
    # The lease lives in the database, which PostgreSQL tests share: free it for the next.
    await made.dispatcher.release()


async def deliveries(api: WebhooksApi, shop: Shop, endpoint_id: str, **params: Any) -> Any:
    response = await api.deliveries(shop.merchant_token, endpoint_id, **params)
    assert response.status_code == 200, response.text
    return response.json()


class TestDeliveries:
    async def test_lists_each_delivery_with_its_attempts(
        self, api: WebhooksApi, shop: Shop, worker: Worker, receiver: Receiver, clock: ManualClock
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        receiver.statuses.extend([503])
        event = await worker.event(shop.tenant_id)
        await worker.dispatch()
        (failed,) = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert failed["status"] == "failed"
        assert failed["event_id"] == event
        assert failed["event_type"] == "payments.payment_succeeded"
        assert failed["endpoint_id"] == endpoint["id"]
        assert failed["id"].isdigit()
        assert (failed["attempts"], failed["last_status_code"]) == (1, 503)
        assert failed["last_error"] == "HTTP 503"
        assert failed["next_attempt_at"] is not None
        assert failed["delivered_at"] is None
        (attempt,) = failed["attempts_log"]
        assert (attempt["number"], attempt["status_code"], attempt["error"]) == (1, 503, "HTTP 503")
        assert attempt["at"].endswith("Z")

        clock.advance(6)
        await worker.dispatch()
        (done,) = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 2, 200)
        assert done["next_attempt_at"] is None
        assert done["delivered_at"] is not None
        assert [a["status_code"] for a in done["attempts_log"]] == [503, 200]
        request = receiver.requests[-1]
        verify(
            endpoint["secret"],
            request.headers["bazaar-signature"],
            request.content,
            now=clock.now(),
        )
        assert request.headers["bazaar-delivery-id"] == done["id"]

    async def test_lists_newest_first_in_pages(
        self, api: WebhooksApi, shop: Shop, worker: Worker
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        events = [await worker.event(shop.tenant_id) for _ in range(3)]
        page = await deliveries(api, shop, endpoint["id"], limit=2)
        assert [d["event_id"] for d in page["items"]] == events[::-1][:2]
        rest = await deliveries(api, shop, endpoint["id"], limit=2, cursor=page["next_cursor"])
        assert [d["event_id"] for d in rest["items"]] == [events[0]]
        assert rest["next_cursor"] is None
        assert all(d["status"] == "pending" for d in page["items"] + rest["items"])

    async def test_replay_answers_202_and_the_next_round_sends_it(
        self, api: WebhooksApi, shop: Shop, worker: Worker, receiver: Receiver, clock: ManualClock
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        receiver.statuses.extend([500, 500])
        await worker.event(shop.tenant_id)
        await worker.dispatch()
        clock.advance(6)
        await worker.dispatch()
        (abandoned,) = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert (abandoned["status"], abandoned["attempts"]) == ("abandoned", 2)
        assert abandoned["next_attempt_at"] is None

        response = await api.replay(shop.merchant_token, endpoint["id"], abandoned["id"])
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        assert response.json()["next_attempt_at"] is not None
        await worker.dispatch()
        (done,) = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert (done["status"], done["attempts"]) == ("succeeded", 3)

        again = await api.replay(shop.merchant_token, endpoint["id"], done["id"])
        assert_problem(again, 409, "conflict")
        unknown = await api.replay(shop.merchant_token, endpoint["id"], "12345")
        assert_problem(unknown, 404, "not-found")

    async def test_a_disabled_endpoint_waits_until_enabled(
        self, api: WebhooksApi, shop: Shop, worker: Worker, receiver: Receiver, clock: ManualClock
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        receiver.statuses.extend([500, 500, 500])
        for _ in range(3):
            await worker.event(shop.tenant_id)
        await worker.dispatch()
        shown = (await api.get(shop.merchant_token, endpoint["id"])).json()
        assert shown["status"] == "disabled"
        assert shown["disabled_reason"].startswith("3 consecutive failed attempts")
        assert shown["disabled_at"] is not None
        items = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert [(d["status"], d["next_attempt_at"]) for d in items] == [("failed", None)] * 3
        assert_problem(
            await api.replay(shop.merchant_token, endpoint["id"], items[0]["id"]), 409, "conflict"
        )

        clock.advance(600)  # well past any retry; access tokens live longer
        await worker.dispatch()
        assert len(receiver.requests) == 3

        enabled = await api.enable(shop.merchant_token, endpoint["id"])
        assert enabled.status_code == 200, enabled.text
        assert (enabled.json()["status"], enabled.json()["disabled_reason"]) == ("active", None)
        await worker.dispatch()
        items = (await deliveries(api, shop, endpoint["id"]))["items"]
        assert {d["status"] for d in items} == {"succeeded"}
        assert len(receiver.requests) == 6

    async def test_deliveries_of_a_deleted_endpoint_are_gone(
        self, api: WebhooksApi, shop: Shop, worker: Worker, receiver: Receiver
    ) -> None:
        endpoint = await api.registered(shop.merchant_token)
        await worker.event(shop.tenant_id)
        assert (await api.delete(shop.merchant_token, endpoint["id"])).status_code == 204
        await worker.dispatch()
        assert receiver.requests == []
        assert_problem(await api.deliveries(shop.merchant_token, endpoint["id"]), 404, "not-found")


class TestWorkerWiring:
    def test_the_worker_runs_the_webhooks_consumer_and_dispatcher(self, app: AppHarness) -> None:
        runtime = build_worker(app.container)
        names = {name for name, _ in runtime.parts}
        assert {"consumer:webhooks", "webhook-dispatcher"} <= names
        assert CONSUMER_TOPICS["webhooks"] == ("payments", "orders")

    def test_every_payments_event_type_may_be_subscribed(self, app: AppHarness) -> None:
        assert {
            "payments.payment_succeeded",
            "payments.payment_declined",
            "payments.refund_succeeded",
            "payments.refund_failed",
        } <= app.container.webhooks.event_types
