"""Payments over HTTP for tests: a small client, and a transport that makes the PSP misbehave."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from bazaar.psp.testing import PspHarness
from bazaar.testing.identity import IdentityApi, bearer

__all__ = ["Customer", "FlakyPspTransport", "PaymentsApi", "Shop", "payment_body", "psp_stats"]


def payment_body(amount: str = "19.99", card: str = "tok_ok", **extra: Any) -> dict[str, Any]:
    return {"amount": {"amount": amount, "currency": "EUR"}, "card_token": card, **extra}


@dataclass
class Customer:
    email: str
    token: str


@dataclass
class Shop:
    """A tenant with its admin, one merchant and one customer."""

    tenant_id: str
    admin_token: str
    merchant_token: str
    customer: Customer


class PaymentsApi:
    """The payments endpoints as short calls."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.identity = IdentityApi(client)
        self._emails = 0

    async def shop(self, name: str = "Acme") -> Shop:
        tenant = await self.identity.create_tenant(name)
        merchant = await self.identity.user_token(
            tenant.id, "merchant@acme.test", "merchant", tenant.admin_token
        )
        return Shop(tenant.id, tenant.admin_token, merchant, await self.customer(tenant.id))

    async def customer(self, tenant_id: str) -> Customer:
        self._emails += 1
        email = f"customer{self._emails}@acme.test"
        response = await self.identity.register(tenant_id, email)
        assert response.status_code == 201, response.text
        return Customer(email, await self.identity.access_token(tenant_id, email))

    async def pay(
        self, token: str | None, key: str | None, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = bearer(token)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/v1/payments", json=payment_body() if body is None else body, headers=headers
        )

    async def paid(
        self, token: str, key: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.pay(token, key, body)
        assert response.status_code == 201, response.text
        payment: dict[str, Any] = response.json()
        return payment

    async def refund(
        self, token: str | None, payment_id: str, key: str | None, amount: str | None = None
    ) -> httpx.Response:
        headers = bearer(token)
        if key is not None:
            headers["Idempotency-Key"] = key
        body = {} if amount is None else {"amount": {"amount": amount, "currency": "EUR"}}
        return await self.client.post(
            f"/api/v1/payments/{payment_id}/refunds", json=body, headers=headers
        )

    async def get(self, token: str | None, payment_id: str) -> httpx.Response:
        return await self.client.get(f"/api/v1/payments/{payment_id}", headers=bearer(token))


async def psp_stats(psp: PspHarness) -> dict[str, Any]:
    return await psp.stats()


@dataclass
class FlakyPspTransport(httpx.AsyncBaseTransport):
    """Carries bazaar's PSP requests to the in-process simulator, misbehaving when told to.

    * ``stall_before``: the request hangs before reaching the simulator (nothing happens
      there) until bazaar's timeout cancels it;
    * ``stall_after``: the simulator handles the request, then the answer never arrives —
      the ambiguous case, where only a lookup by key can tell what happened;
    * ``lose_next``: like ``stall_after``, for that many next answers the PSP acted on;
    * ``refuse_lookups``: ``GET /v1/idempotency/...`` fails to connect.

    The probabilities draw from a seeded ``random.Random``; stalls wait on an event that
    is never set, so they end exactly when the caller's ``asyncio.timeout`` fires.
    """

    inner: httpx.AsyncBaseTransport
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    stall_before: float = 0.0
    stall_after: float = 0.0
    lose_next: int = 0
    refuse_lookups: bool = False
    stalled: int = 0
    lost_answers: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lookup = request.url.path.startswith("/v1/idempotency/")
        if lookup and self.refuse_lookups:
            raise httpx.ConnectError("lookup refused (injected)", request=request)
        if not lookup and self.rng.random() < self.stall_before:
            self.stalled += 1
            await asyncio.Event().wait()
        response = await self.inner.handle_async_request(request)
        if not lookup and self._lose(response):
            self.lost_answers += 1
            await response.aread()
            await asyncio.Event().wait()
        return response

    def _lose(self, response: httpx.Response) -> bool:
        if self.lose_next > 0 and response.status_code < 500:  # the PSP did act
            self.lose_next -= 1
            return True
        return self.rng.random() < self.stall_after

    async def aclose(self) -> None:
        await self.inner.aclose()
