"""Test helpers: a simulator served in process, and a webhook receiver that records deliveries."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette

from bazaar.kernel.clock import Clock
from bazaar.psp.app import create_psp_app, psp_lifespan, psp_runtime
from bazaar.psp.config import PspConfig
from bazaar.psp.routes import PspApi
from bazaar.psp.signing import SIGNATURE_HEADER

__all__ = [
    "TEST_API_KEY",
    "TEST_WEBHOOK_SECRET",
    "TEST_WEBHOOK_URL",
    "PspHarness",
    "ReceivedWebhook",
    "WebhookRecorder",
    "running_psp",
]

# Credentials of a local simulator in tests, not secrets of anything real.
TEST_API_KEY = "psp_test_key"
TEST_WEBHOOK_SECRET = "whsec_test"
TEST_WEBHOOK_URL = "http://bazaar.test/api/v1/webhooks/psp"


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    """One delivery as the receiver saw it: the raw body and the signature header."""

    body: bytes
    signature: str | None
    answered: int

    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


@dataclass(slots=True)
class WebhookRecorder:
    """A webhook endpoint for tests, used as the simulator's ``webhook_transport``.

    Answers ``fail_first`` deliveries with ``failure_status``, then 200; records them all.
    """

    fail_first: int = 0
    failure_status: int = 503
    received: list[ReceivedWebhook] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        status = self.failure_status if len(self.received) < self.fail_first else 200
        self.received.append(
            ReceivedWebhook(request.content, request.headers.get(SIGNATURE_HEADER), status)
        )
        return httpx.Response(status)

    def accepted(self) -> list[ReceivedWebhook]:
        return [r for r in self.received if 200 <= r.answered < 300]

    def event_types(self) -> list[str]:
        return sorted(str(r.event()["type"]) for r in self.accepted())


@dataclass(slots=True)
class PspHarness:
    """A simulator app in its lifespan, and a client that already sends the API key."""

    app: Starlette
    api: PspApi
    config: PspConfig
    client: httpx.AsyncClient

    async def authorize(
        self,
        key: str,
        card: str = "tok_ok",
        amount: str = "19.99",
        currency: str = "EUR",
        **extra: Any,
    ) -> httpx.Response:
        body = {"amount": amount, "currency": currency, "card_token": card, **extra}
        return await self.client.post(
            "/v1/authorizations", json=body, headers={"Idempotency-Key": key}
        )

    async def stats(self) -> dict[str, Any]:
        response = await self.client.get("/v1/admin/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


@asynccontextmanager
async def running_psp(
    data_dir: Path,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    **config: Any,
) -> AsyncIterator[PspHarness]:
    """A simulator on ``data_dir/psp.db`` with test credentials, in its lifespan.

    Args:
        data_dir: where its SQLite file goes (a pytest ``tmp_path``).
        clock: a ``ManualClock`` so token delays and latency do not wait.
        rng: a seeded ``random.Random``.
        webhook_transport: where webhooks go (``WebhookRecorder().transport()``); set
            ``webhook_url`` too (``TEST_WEBHOOK_URL``) or none are sent.
        **config: other ``PspConfig`` fields (overriding the test credentials too).
    """
    fields: dict[str, Any] = {
        "api_key": TEST_API_KEY,
        "webhook_secret": TEST_WEBHOOK_SECRET,
        **config,
    }
    psp_config = PspConfig.in_data_dir(data_dir, **fields)
    app = create_psp_app(psp_config, clock, rng, webhook_transport=webhook_transport)
    async with psp_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://psp.test",
            headers={"Authorization": f"Bearer {psp_config.api_key}"},
        ) as client:
            yield PspHarness(app, psp_runtime(app), psp_config, client)
