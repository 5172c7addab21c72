"""The dispatcher against a real HTTP server on loopback, through the pinned transport."""

from __future__ import annotations

import random
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from webhooks_integration_support import UnitOfWorkFactory, payment_envelope

from bazaar.contexts.webhooks import (
    DeliveryStatus,
    DispatcherConfig,
    FanOutHandler,
    RegisterEndpoint,
    UrlGuard,
    WebhookDispatcher,
    WebhookService,
    verify,
)
from bazaar.contexts.webhooks.adapters import HttpWebhookSender, SqlWebhooksReadModel
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.ssrf import SsrfPolicy

LOOPBACK = SsrfPolicy(allow=("127.0.0.1/32",))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalReceiver:
    """A threaded HTTP server that records each POST and answers ``statuses`` in turn."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def serve(self) -> Iterator[LocalReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@pytest.fixture
def local() -> Iterator[LocalReceiver]:
    yield from LocalReceiver().serve()


async def test_a_real_post_is_signed_retried_and_succeeds(
    database: Database,
    unit_of_work: UnitOfWorkFactory,
    ids: SnowflakeGenerator,
    clock: ManualClock,
    tenant_id: int,
    local: LocalReceiver,
) -> None:
    service = WebhookService(
        unit_of_work=unit_of_work,
        reads=SqlWebhooksReadModel(database.read_sessions),
        guard=UrlGuard(LOOPBACK),
        ids=ids,
        clock=clock,
        event_types=("payments.payment_succeeded",),
    )
    endpoint = await service.register_endpoint(
        RegisterEndpoint(
            tenant_id=tenant_id,
            url=f"http://127.0.0.1:{local.port}/hooks/{uuid.uuid4().hex}",
            event_types=("payments.payment_succeeded",),
        )
    )
    dispatcher = WebhookDispatcher(
        unit_of_work=unit_of_work,
        sender=HttpWebhookSender(),  # the SSRF guard's pinned transport
        guard=UrlGuard(LOOPBACK),
        clock=clock,
        leases=InMemoryLeaseStore(clock),
        holder="over-http",
        config=DispatcherConfig(batch_size=200, timeout_s=5),
        rng=random.Random(1),
    )
    fan_out = FanOutHandler(unit_of_work=unit_of_work, ids=ids, clock=clock)
    event = f"evt-{uuid.uuid4().hex}"
    await fan_out(payment_envelope(event, tenant_id))

    local.statuses = [500]
    await dispatcher.run_once()
    clock.advance(10)
    await dispatcher.run_once()

    mine = [r for r in local.received if r.headers.get("bazaar-event-id") == event]
    assert len(mine) == 2
    for received in mine:
        assert received.path == endpoint.url.split(str(local.port), 1)[1]
        verify(
            endpoint.secret, received.headers["bazaar-signature"], received.body, now=clock.now()
        )
    (delivery,) = await service.list_deliveries(tenant_id, endpoint.id)
    assert delivery.status is DeliveryStatus.SUCCEEDED
    assert [a.status_code for a in delivery.attempts_log] == [500, 200]
    assert mine[-1].body == delivery.payload


async def test_a_refused_connection_is_a_failed_attempt(
    database: Database,
    unit_of_work: UnitOfWorkFactory,
    ids: SnowflakeGenerator,
    clock: ManualClock,
    tenant_id: int,
) -> None:
    service = WebhookService(
        unit_of_work=unit_of_work,
        reads=SqlWebhooksReadModel(database.read_sessions),
        guard=UrlGuard(LOOPBACK),
        ids=ids,
        clock=clock,
        event_types=("payments.payment_succeeded",),
    )
    closed_port = _closed_port()
    endpoint = await service.register_endpoint(
        RegisterEndpoint(
            tenant_id=tenant_id,
            url=f"http://127.0.0.1:{closed_port}/{uuid.uuid4().hex}",
            event_types=("payments.payment_succeeded",),
        )
    )
    dispatcher = WebhookDispatcher(
        unit_of_work=unit_of_work,
        sender=HttpWebhookSender(),
        guard=UrlGuard(LOOPBACK),
        clock=clock,
        leases=InMemoryLeaseStore(clock),
        holder="refused",
        config=DispatcherConfig(batch_size=200, timeout_s=5),
    )
    await FanOutHandler(unit_of_work=unit_of_work, ids=ids, clock=clock)(
        payment_envelope(f"evt-{uuid.uuid4().hex}", tenant_id)
    )
    await dispatcher.run_once()
    (delivery,) = await service.list_deliveries(tenant_id, endpoint.id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_status_code is None
    assert delivery.last_error is not None
    assert "ConnectError" in delivery.last_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
