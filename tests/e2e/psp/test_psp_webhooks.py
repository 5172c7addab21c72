"""Signed webhooks from the simulator: what is sent, that it verifies, retries, never blocking."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bazaar.kernel.clock import ManualClock
from bazaar.psp import SIGNATURE_HEADER, SignatureError, verify
from bazaar.psp.testing import (
    TEST_WEBHOOK_SECRET,
    TEST_WEBHOOK_URL,
    PspHarness,
    WebhookRecorder,
    running_psp,
)

AUTHORIZATIONS = "/v1/authorizations"


@pytest.fixture
def recorder() -> WebhookRecorder:
    return WebhookRecorder()


@pytest.fixture
async def psp(
    tmp_path: Path, clock: ManualClock, rng: random.Random, recorder: WebhookRecorder
) -> AsyncIterator[PspHarness]:
    async with running_psp(
        tmp_path,
        clock=clock,
        rng=rng,
        webhook_url=TEST_WEBHOOK_URL,
        webhook_transport=recorder.transport(),
    ) as harness:
        yield harness


async def authorize(psp: PspHarness, key: str, **extra: Any) -> dict[str, Any]:
    response = await psp.authorize(key, **extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def call(
    psp: PspHarness, path: str, key: str | None, body: dict[str, Any] | None = None
) -> None:
    headers = {"Idempotency-Key": key} if key else {}
    response = await psp.client.post(path, json=body or {}, headers=headers)
    assert response.status_code < 300, response.text


class VerifyingReceiver:
    """A tiny bazaar-like endpoint: verifies the signature with ``verify``, 400 if it fails."""

    def __init__(self, secret: str, clock: ManualClock) -> None:
        self.secret = secret
        self.clock = clock
        self.accepted: list[bytes] = []
        self.rejected: list[str] = []
        self.app = Starlette(routes=[Route("/api/v1/webhooks/psp", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify(self.secret, request.headers.get(SIGNATURE_HEADER), body, self.clock.now())
        except SignatureError as exc:
            self.rejected.append(exc.reason.value)
            return Response(status_code=400)
        self.accepted.append(body)
        return Response(status_code=200)


class TestWhatIsSent:
    async def test_an_authorization_sends_a_signed_created_event(
        self, psp: PspHarness, recorder: WebhookRecorder, clock: ManualClock
    ) -> None:
        auth = await authorize(psp, "wh-created")
        await psp.api.webhooks.drain()
        [delivery] = recorder.received
        verify(TEST_WEBHOOK_SECRET, delivery.signature, delivery.body, now=clock.now())
        assert delivery.signature is not None
        assert delivery.signature.startswith(f"t={int(clock.now())},v1=")
        event = delivery.event()
        assert event["id"].startswith("evt_")
        assert event["type"] == "authorization.created"
        assert event["created_at"] == auth["created_at"]
        assert event["data"] == auth

    async def test_capture_void_and_refund_send_their_events(
        self, psp: PspHarness, recorder: WebhookRecorder
    ) -> None:
        first = await authorize(psp, "wh-flow-1")
        await call(psp, f"{AUTHORIZATIONS}/{first['id']}/capture", "wh-flow-1-c")
        await call(
            psp, f"{AUTHORIZATIONS}/{first['id']}/refunds", "wh-flow-1-r", {"amount": "1.00"}
        )
        second = await authorize(psp, "wh-flow-2")
        await call(psp, f"{AUTHORIZATIONS}/{second['id']}/void", None)
        await call(psp, f"{AUTHORIZATIONS}/{second['id']}/void", None)  # no change, no event
        await psp.api.webhooks.drain()
        assert recorder.event_types() == sorted(
            [
                "authorization.created",
                "authorization.captured",
                "refund.succeeded",
                "authorization.created",
                "authorization.voided",
            ]
        )
        refund_event = next(r.event() for r in recorder.received if "refund" in r.event()["type"])
        assert refund_event["data"]["authorization_id"] == first["id"]
        assert refund_event["data"]["amount"] == "1.00"

    async def test_authorize_with_capture_sends_created_and_captured(
        self, psp: PspHarness, recorder: WebhookRecorder
    ) -> None:
        await authorize(psp, "wh-capture-now", capture=True)
        await psp.api.webhooks.drain()
        assert recorder.event_types() == ["authorization.captured", "authorization.created"]
        assert len({r.event()["id"] for r in recorder.received}) == 2

    async def test_a_replayed_request_sends_nothing_again(
        self, psp: PspHarness, recorder: WebhookRecorder
    ) -> None:
        await authorize(psp, "wh-replay")
        await authorize(psp, "wh-replay")
        await psp.api.webhooks.drain()
        assert recorder.event_types() == ["authorization.created"]

    async def test_a_receiver_verifying_like_bazaar_accepts_every_event(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        receiver = VerifyingReceiver(TEST_WEBHOOK_SECRET, clock)
        async with running_psp(
            tmp_path,
            clock=clock,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=httpx.ASGITransport(app=receiver.app),
        ) as psp:
            auth = await authorize(psp, "wh-verify")
            await call(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "wh-verify-c")
            await psp.api.webhooks.drain()
        assert receiver.rejected == []
        assert len(receiver.accepted) == 2

    async def test_no_webhook_url_sends_nothing(self, tmp_path: Path, clock: ManualClock) -> None:
        recorder = WebhookRecorder()
        async with running_psp(
            tmp_path, clock=clock, webhook_transport=recorder.transport()
        ) as psp:
            await authorize(psp, "wh-off")
            await psp.api.webhooks.drain()
            assert psp.api.webhooks.attempts == []
        assert recorder.received == []


class TestRetries:
    async def test_failed_deliveries_are_retried_with_backoff_and_fresh_signatures(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        recorder = WebhookRecorder(fail_first=2)
        async with running_psp(
            tmp_path,
            clock=clock,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=recorder.transport(),
            webhook_backoff_s=1.0,
        ) as psp:
            await authorize(psp, "wh-retry")
            await psp.api.webhooks.drain()
            stats = (await psp.stats())["webhooks"]
        assert [r.answered for r in recorder.received] == [503, 503, 200]
        assert clock.sleeps == [1.0, 2.0]
        assert len({r.event()["id"] for r in recorder.received}) == 1
        signatures = [r.signature or "" for r in recorder.received]
        assert len({s.split(",")[0] for s in signatures}) == 3  # t moves with each attempt
        last = recorder.received[-1]
        verify(TEST_WEBHOOK_SECRET, last.signature, last.body, now=clock.now())
        assert stats == {
            "url_configured": True,
            "delivered": 1,
            "gave_up": 0,
            "attempts": 3,
            "pending": 0,
        }

    async def test_gives_up_after_the_last_attempt_without_failing_the_api(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        recorder = WebhookRecorder(fail_first=100, failure_status=500)
        async with running_psp(
            tmp_path,
            clock=clock,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=recorder.transport(),
            webhook_max_attempts=3,
        ) as psp:
            response = await psp.authorize("wh-give-up")
            assert response.status_code == 201
            await psp.api.webhooks.drain()
            assert [a.status_code for a in psp.api.webhooks.attempts] == [500, 500, 500]
            assert (await psp.stats())["webhooks"]["gave_up"] == 1

    async def test_transport_errors_are_retried_and_never_reach_the_caller(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        calls = 0

        def unreachable_then_ok(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(204)

        async with running_psp(
            tmp_path,
            clock=clock,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=httpx.MockTransport(unreachable_then_ok),
        ) as psp:
            assert (await psp.authorize("wh-unreachable")).status_code == 201
            await psp.api.webhooks.drain()
            attempts = psp.api.webhooks.attempts
        assert [(a.status_code, a.error) for a in attempts] == [(None, "ConnectError"), (204, None)]

    async def test_a_receiver_with_another_secret_rejects_and_the_sender_gives_up(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        receiver = VerifyingReceiver("whsec_someone_else", clock)
        async with running_psp(
            tmp_path,
            clock=clock,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=httpx.ASGITransport(app=receiver.app),
            webhook_max_attempts=2,
        ) as psp:
            await authorize(psp, "wh-wrong-secret")
            await psp.api.webhooks.drain()
        assert receiver.rejected == ["bad_signature", "bad_signature"]
        assert receiver.accepted == []

    async def test_closing_the_simulator_cancels_deliveries_still_waiting(
        self, tmp_path: Path
    ) -> None:
        parked = ParkedClock()
        recorder = WebhookRecorder(fail_first=1)
        async with running_psp(
            tmp_path,
            clock=parked,
            webhook_url=TEST_WEBHOOK_URL,
            webhook_transport=recorder.transport(),
            webhook_timeout_s=0.01,
        ) as psp:
            await authorize(psp, "wh-shutdown")
            await parked.parked.wait()  # the retry is waiting in its backoff
            sender = psp.api.webhooks
            assert sender.pending == 1
        assert sender.pending == 0
        assert len(recorder.received) == 1


class ParkedClock(ManualClock):
    """A manual clock whose sleeps never end (a delivery stuck in its backoff)."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = asyncio.Event()
        self._forever = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.parked.set()
        await self._forever.wait()
