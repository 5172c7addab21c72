"""Notification e-mails end to end: event → handler → SMTP → mail sink → ``GET /admin/mail``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bazaar.bootstrap import build_notifications
from bazaar.contexts.notifications import MailUnavailableError
from bazaar.infra.mail import MailSink
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Handler
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import PASSWORD, IdentityApi, assert_problem, bearer

OPERATOR_KEY = "operator-key-for-tests"


class FakeInbox:
    """The ``Inbox`` port over a dict (the SQL inbox is the messaging runtime's)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], datetime] = {}

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        if (consumer, message_id) in self.records:
            return False
        self.records[(consumer, message_id)] = at
        return True

    async def contains(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.records


@pytest.fixture
def clock() -> ManualClock:
    # Real time at the start, as the other e2e tests: ids and tokens look like real ones.
    return ManualClock(start=time.time())


@pytest.fixture
async def sink(tmp_path: Path, clock: ManualClock) -> AsyncIterator[MailSink]:
    # Where `bazaar up` puts it: <data dir>/mail, which the admin API reads.
    async with MailSink(tmp_path / "data" / "mail", clock=clock) as running:
        yield running


@pytest.fixture
async def demo(tmp_path: Path, clock: ManualClock, sink: MailSink) -> AsyncIterator[AppHarness]:
    async with running_app(
        clock,
        fast_password_hashing=True,
        data_dir=tmp_path / "data",
        demo=True,
        smtp_url=sink.url,
    ) as harness:
        yield harness


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path / "prod", operator_key=OPERATOR_KEY, fast_password_hashing=True
    ) as harness:
        yield harness


class Shop:
    """A tenant with one customer, and the notifications consumer's handler."""

    def __init__(self, harness: AppHarness) -> None:
        self.harness = harness
        self.inbox = FakeInbox()

    async def customer(self, email: str) -> tuple[int, int]:
        identity = self.harness.container.identity
        tenant = await identity.create_tenant(
            name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
        )
        user = await identity.register(tenant_id=tenant.id, email=email, password=PASSWORD)
        return tenant.id, user.id

    def handler(self) -> Handler:
        c = self.harness.container
        guard = c.dependencies.get("smtp")
        assert guard is not None, "bootstrap registers the smtp guard"
        subscribe = build_notifications(c.settings, c.clock, identity=c.identity, guard=guard)
        handler = subscribe(self.inbox).handler_for("payments.payment_succeeded")
        assert handler is not None
        return handler


def payment_succeeded(event_id: str, tenant_id: int, user_id: int) -> Envelope:
    return Envelope(
        id=event_id,
        type="payments.payment_succeeded",
        version=1,
        key="501",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        payload={
            "tenant_id": tenant_id,
            "payment_id": 501,
            "user_id": user_id,
            "amount": {"amount": "19.99", "currency": "EUR"},
        },
    )


class TestMailEndpoint:
    async def test_a_payment_event_shows_up_as_one_email(self, demo: AppHarness) -> None:
        shop = Shop(demo)
        tenant_id, user_id = await shop.customer("buyer@acme.test")
        handle = shop.handler()
        await handle(payment_succeeded("700001", tenant_id, user_id))
        await handle(payment_succeeded("700001", tenant_id, user_id))  # redelivered

        response = await demo.client.get("/api/v1/admin/mail", params={"to": "buyer@acme.test"})
        assert response.status_code == 200, response.text
        (mail,) = response.json()
        assert set(mail) == {"to", "subject", "message_id", "received_at", "headers"}
        assert mail["to"] == "buyer@acme.test"
        assert mail["subject"] == "Payment received"
        assert mail["message_id"] == "<700001.payment_received@notifications.bazaar>"
        assert datetime.fromisoformat(mail["received_at"]).tzinfo is not None
        assert mail["headers"]["X-Bazaar-Tenant-Id"] == str(tenant_id)
        assert mail["headers"]["From"] == demo.container.settings.smtp_from

    async def test_filters_by_recipient(self, demo: AppHarness) -> None:
        shop = Shop(demo)
        tenant_id, user_id = await shop.customer("buyer@acme.test")
        await shop.handler()(payment_succeeded("700002", tenant_id, user_id))
        everyone = await demo.client.get("/api/v1/admin/mail")
        nobody = await demo.client.get("/api/v1/admin/mail", params={"to": "x@acme.test"})
        assert [m["to"] for m in everyone.json()] == ["buyer@acme.test"]
        assert nobody.json() == []

    async def test_is_for_operators_outside_demo_mode(self, production: AppHarness) -> None:
        anonymous = await production.client.get("/api/v1/admin/mail")
        assert_problem(anonymous, 401, "unauthenticated")
        operator = await production.client.get(
            "/api/v1/admin/mail", headers={"x-operator-key": OPERATOR_KEY}
        )
        assert operator.status_code == 200
        assert operator.json() == []  # no sink ran in this data dir


class TestSmtpFaults:
    async def test_an_smtp_outage_fails_the_handler_retryably_until_cleared(
        self, demo: AppHarness
    ) -> None:
        shop = Shop(demo)
        tenant_id, user_id = await shop.customer("buyer@acme.test")
        handle = shop.handler()
        put = await demo.client.put("/api/v1/admin/faults/smtp", json={"outage": True})
        assert put.status_code == 200, put.text
        assert put.json() == {
            "dependency": "smtp",
            "latency_ms": 0.0,
            "error_rate": 0.0,
            "outage": True,
        }
        with pytest.raises(MailUnavailableError):
            await handle(payment_succeeded("700003", tenant_id, user_id))
        assert shop.inbox.records == {}
        assert (await demo.client.get("/api/v1/admin/mail")).json() == []

        cleared = await demo.client.delete("/api/v1/admin/faults/smtp")
        assert cleared.status_code == 204
        await handle(payment_succeeded("700003", tenant_id, user_id))  # the consumer's retry
        assert len((await demo.client.get("/api/v1/admin/mail")).json()) == 1

    async def test_the_smtp_breaker_is_listed(self, demo: AppHarness) -> None:
        tenant = await IdentityApi(demo.client).create_tenant()
        response = await demo.client.get(
            "/api/v1/admin/breakers", headers=bearer(tenant.admin_token)
        )
        assert response.status_code == 200, response.text
        assert "smtp" in {b["name"] for b in response.json()}
