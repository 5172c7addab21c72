"""Webhook endpoints over HTTP for tests: a small client and a scripted receiver."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import httpx

from bazaar.contexts.webhooks.adapters import HttpWebhookSender
from bazaar.kernel.messaging import Envelope
from bazaar.kernel.ssrf import IPAddress, SafeTarget
from bazaar.testing.identity import IdentityApi, bearer

__all__ = ["PublicResolver", "Receiver", "Shop", "WebhooksApi", "payment_event"]

EVENTS = ["payments.payment_succeeded"]


class PublicResolver:
    """Every name resolves to one public address (no DNS in tests)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        return [ip_address("93.184.215.14")]


@dataclass
class Receiver:
    """Answers ``statuses`` in turn (then 200) and keeps every request."""

    statuses: deque[int] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.popleft() if self.statuses else 200)

    def sender(self) -> HttpWebhookSender:
        def transport(target: SafeTarget) -> httpx.AsyncBaseTransport:
            return httpx.MockTransport(self.handle)

        return HttpWebhookSender(transport)


@dataclass
class Shop:
    tenant_id: str
    admin_token: str
    merchant_token: str
    customer_token: str


def payment_event(event_id: str, tenant_id: str, payment_id: int = 11) -> Envelope:
    return Envelope(
        id=event_id,
        type="payments.payment_succeeded",
        version=1,
        key=str(payment_id),
        occurred_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        payload={
            "tenant_id": int(tenant_id),
            "payment_id": payment_id,
            "user_id": 5,
            "amount": {"amount": "12.00", "currency": "EUR"},
        },
    )


class WebhooksApi:
    """The webhook endpoints as short calls; remembers the tenants it made (for cleanup)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.identity = IdentityApi(client)
        self.tenants: list[int] = []

    async def shop(self, name: str = "Acme") -> Shop:
        tenant = await self.identity.create_tenant(name)
        self.tenants.append(int(tenant.id))
        merchant = await self.identity.user_token(
            tenant.id, "merchant@acme.test", "merchant", tenant.admin_token
        )
        response = await self.identity.register(tenant.id, "customer@acme.test")
        assert response.status_code == 201, response.text
        customer = await self.identity.access_token(tenant.id, "customer@acme.test")
        return Shop(tenant.id, tenant.admin_token, merchant, customer)

    async def register(
        self, token: str | None, url: str = "https://hooks.example/in", events: Any = None
    ) -> httpx.Response:
        body = {"url": url, "events": EVENTS if events is None else events}
        return await self.client.post("/api/v1/webhook-endpoints", json=body, headers=bearer(token))

    async def registered(self, token: str, url: str = "https://hooks.example/in") -> dict[str, Any]:
        response = await self.register(token, url)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def list(self, token: str | None, **params: Any) -> httpx.Response:
        return await self.client.get(
            "/api/v1/webhook-endpoints", params=params, headers=bearer(token)
        )

    async def get(self, token: str | None, endpoint_id: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/webhook-endpoints/{endpoint_id}", headers=bearer(token)
        )

    async def delete(self, token: str | None, endpoint_id: str) -> httpx.Response:
        return await self.client.delete(
            f"/api/v1/webhook-endpoints/{endpoint_id}", headers=bearer(token)
        )

    async def enable(self, token: str | None, endpoint_id: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/webhook-endpoints/{endpoint_id}/enable", headers=bearer(token)
        )

    async def deliveries(
        self, token: str | None, endpoint_id: str, **params: Any
    ) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
            params=params,
            headers=bearer(token),
        )

    async def replay(self, token: str | None, endpoint_id: str, delivery_id: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay",
            headers=bearer(token),
        )
