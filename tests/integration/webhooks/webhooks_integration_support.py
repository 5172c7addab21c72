"""Webhooks on real engines for tests: a scripted receiver, a resolver, fixtures' helpers."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address

import httpx
from sqlalchemy import delete, select

from bazaar.contexts.webhooks import (
    FanOutHandler,
    RegisterEndpoint,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookService,
)
from bazaar.contexts.webhooks.adapters import HttpWebhookSender, SqlWebhooksUnitOfWork
from bazaar.contexts.webhooks.adapters.tables import (
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging import Envelope
from bazaar.kernel.ssrf import IPAddress, SafeTarget

__all__ = [
    "EVENT_TYPES",
    "PUBLIC_ADDRESS",
    "PublicResolver",
    "ScriptedReceiver",
    "Shop",
    "UnitOfWorkFactory",
    "forget_tenants",
    "payment_envelope",
    "seconds_until",
]

PUBLIC_ADDRESS = "93.184.215.14"
UnitOfWorkFactory = Callable[[], SqlWebhooksUnitOfWork]
EVENT_TYPES = (
    "payments.payment_succeeded",
    "payments.refund_succeeded",
    "orders.order_confirmed",
)


class PublicResolver:
    """Every name resolves to one public address, except those ``overrides`` names."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append(host)
        return [ip_address(self.overrides.get(host, PUBLIC_ADDRESS))]


@dataclass
class ScriptedReceiver:
    """An ``httpx.MockTransport`` handler for one host: answers ``statuses`` in turn (then 200).

    ``error`` (an exception) is raised instead while set. Requests to other hosts — another
    test's leftovers on the shared PostgreSQL database — answer 410 and are not recorded.
    """

    host: str
    statuses: deque[int] = field(default_factory=deque)
    error: Exception | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    targets: list[SafeTarget] = field(default_factory=list)

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host:
            return httpx.Response(410)
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return httpx.Response(self.statuses.popleft() if self.statuses else 200)

    def sender(self) -> HttpWebhookSender:
        def transport(target: SafeTarget) -> httpx.AsyncBaseTransport:
            self.targets.append(target)
            return httpx.MockTransport(self.handle)

        return HttpWebhookSender(transport)

    @property
    def url(self) -> str:
        return f"https://{self.host}/hooks"


def payment_envelope(
    event_id: str,
    tenant_id: int | str,
    *,
    type_: str = "payments.payment_succeeded",
    payment_id: int = 7,
) -> Envelope:
    return Envelope(
        id=event_id,
        type=type_,
        version=1,
        key=str(payment_id),
        occurred_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        payload={
            "tenant_id": tenant_id,
            "payment_id": payment_id,
            "user_id": 3,
            "amount": {"amount": "12.00", "currency": "EUR"},
        },
    )


async def forget_tenants(database: Database, tenant_ids: Iterable[int]) -> None:
    """Delete the tenants' webhook rows: the PostgreSQL database outlives each test."""
    tenants = list(tenant_ids)
    if not tenants:
        return
    e, d, a = webhook_endpoints, webhook_deliveries, webhook_delivery_attempts
    async with database.sessions() as session, session.begin():
        deliveries = select(d.c.id).where(d.c.tenant_id.in_(tenants))
        await session.execute(delete(a).where(a.c.delivery_id.in_(deliveries)))
        await session.execute(delete(d).where(d.c.tenant_id.in_(tenants)))
        await session.execute(delete(e).where(e.c.tenant_id.in_(tenants)))


class Shop:
    """One tenant's endpoint pointed at the receiver, and events to fan out to it."""

    def __init__(
        self,
        service: WebhookService,
        handler: FanOutHandler,
        tenant_id: int,
        receiver: ScriptedReceiver,
    ) -> None:
        self.service = service
        self.handler = handler
        self.tenant_id = tenant_id
        self.receiver = receiver
        self.endpoint: WebhookEndpoint | None = None

    async def register(self) -> WebhookEndpoint:
        self.endpoint = await self.service.register_endpoint(
            RegisterEndpoint(
                tenant_id=self.tenant_id,
                url=self.receiver.url,
                event_types=("payments.payment_succeeded",),
            )
        )
        return self.endpoint

    async def events(self, count: int = 1) -> list[str]:
        ids = [f"evt-{uuid.uuid4().hex}" for _ in range(count)]
        for event in ids:
            await self.handler(payment_envelope(event, self.tenant_id))
        return ids

    async def deliveries(self) -> list[WebhookDelivery]:
        assert self.endpoint is not None
        newest_first = await self.service.list_deliveries(
            self.tenant_id, self.endpoint.id, limit=100
        )
        return newest_first[::-1]

    async def delivery(self) -> WebhookDelivery:
        (only,) = await self.deliveries()
        return only

    async def endpoint_now(self) -> WebhookEndpoint:
        assert self.endpoint is not None
        return await self.service.get_endpoint(self.tenant_id, self.endpoint.id)


def seconds_until(clock: ManualClock, delivery: WebhookDelivery) -> float:
    assert delivery.next_attempt_at is not None
    return delivery.next_attempt_at.timestamp() - clock.now()
