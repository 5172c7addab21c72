"""The notifications consumer: one e-mail per event, deduplicated by event id, failing right."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from notifications_unit_support import (
    OCCURRED_AT,
    FakeInbox,
    make_guard,
    order_confirmed,
    payment_succeeded,
)

from bazaar.contexts.notifications import (
    CONSUMER,
    MailRejectedError,
    MailUnavailableError,
    notification_subscription,
)
from bazaar.contexts.notifications.adapters import (
    InMemoryRecipientDirectory,
    RecordingMailSender,
)
from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.kernel.breaker import BreakerState
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging.handlers import Handler, PermanentHandlerError, Subscription
from bazaar.kernel.money import Money
from bazaar.kernel.resilience import (
    DependencyFailureError,
    DependencyGuard,
    DependencyUnavailableError,
    FaultSpec,
)

START = 1_800_000_000.0


class Consumer:
    """The subscription under test with its fakes."""

    def __init__(self) -> None:
        self.clock = ManualClock(start=START)
        self.sender = RecordingMailSender()
        self.inbox = FakeInbox()
        self.recipients = InMemoryRecipientDirectory({(11, 21): "buyer@acme.test"})
        self.guard: DependencyGuard = make_guard(self.clock)
        self.subscription: Subscription = notification_subscription(
            sender=self.sender,
            guard=self.guard,
            recipients=self.recipients,
            inbox=self.inbox,
            clock=self.clock,
        )

    def handler(self, message_type: str) -> Handler:
        handler = self.subscription.handler_for(message_type)
        assert handler is not None
        return handler


@pytest.fixture
def consumer() -> Consumer:
    return Consumer()


class TestSubscription:
    def test_is_the_notifications_group_on_orders_and_payments(self, consumer: Consumer) -> None:
        sub = consumer.subscription
        assert sub.consumer == CONSUMER == "notifications"
        assert set(sub.topics) == {"orders", "payments"}
        assert set(sub.handlers) == {"payments.payment_succeeded", "orders.order_confirmed"}


class TestSending:
    async def test_a_payment_sends_payment_received_to_the_user(self, consumer: Consumer) -> None:
        await consumer.handler("payments.payment_succeeded")(payment_succeeded("7001"))
        (sent,) = consumer.sender.sent
        assert sent.to == "buyer@acme.test"
        assert sent.subject == "Payment received"
        assert "19.99 EUR" in sent.body_text
        assert sent.message_id == "<7001.payment_received@notifications.bazaar>"
        assert sent.headers["X-Bazaar-Event-Id"] == "7001"
        assert sent.headers["X-Bazaar-Event-Type"] == "payments.payment_succeeded"
        assert sent.headers["X-Bazaar-Tenant-Id"] == "11"
        assert sent.headers["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"

    async def test_records_the_event_in_the_inbox_after_sending(self, consumer: Consumer) -> None:
        await consumer.handler("payments.payment_succeeded")(payment_succeeded("7001"))
        at = datetime.fromtimestamp(START, tz=UTC)
        assert consumer.inbox.records == {("notifications", "7001"): at}

    async def test_an_order_confirmation_sends_order_confirmed(self, consumer: Consumer) -> None:
        await consumer.handler("orders.order_confirmed")(order_confirmed("8001"))
        (sent,) = consumer.sender.sent
        assert sent.subject == "Order confirmed"
        assert "901" in sent.body_text
        assert "42.50 EUR" in sent.body_text
        assert sent.message_id == "<8001.order_confirmed@notifications.bazaar>"

    async def test_an_address_in_the_event_skips_the_directory(self, consumer: Consumer) -> None:
        envelope = order_confirmed("8002", user_id=999, email="guest@acme.test")
        await consumer.handler("orders.order_confirmed")(envelope)
        assert [e.to for e in consumer.sender.sent] == ["guest@acme.test"]

    async def test_ids_sent_as_strings_are_accepted(self, consumer: Consumer) -> None:
        envelope = payment_succeeded("7003", tenant_id="11", user_id="21", payment_id="501")
        await consumer.handler("payments.payment_succeeded")(envelope)
        assert len(consumer.sender.sent) == 1

    async def test_reads_the_payload_a_real_payment_event_is_written_with(
        self, consumer: Consumer
    ) -> None:
        events = pytest.importorskip("bazaar.kernel.messaging.events")
        event = PaymentSucceeded(
            id=7004,
            occurred_at=OCCURRED_AT,
            tenant_id=11,
            payment_id=501,
            user_id=21,
            amount=Money.of("5.00", "EUR"),
        )
        await consumer.handler(event.type)(events.envelope_of(event))
        (sent,) = consumer.sender.sent
        assert sent.message_id == "<7004.payment_received@notifications.bazaar>"
        assert "5.00 EUR" in sent.body_text


class TestDedupe:
    async def test_a_redelivered_event_is_not_sent_again(self, consumer: Consumer) -> None:
        handler = consumer.handler("payments.payment_succeeded")
        await handler(payment_succeeded("7001"))
        await handler(payment_succeeded("7001"))
        assert len(consumer.sender.sent) == 1
        assert consumer.sender.attempts == 1

    async def test_a_crash_before_the_inbox_record_resends_the_identical_email(
        self, consumer: Consumer
    ) -> None:
        handler = consumer.handler("payments.payment_succeeded")
        await handler(payment_succeeded("7001"))
        consumer.inbox.records.clear()  # the record was lost with the crashed process
        await handler(payment_succeeded("7001"))
        first, second = consumer.sender.sent
        # At least once, but the same Message-ID: the receiver keeps one copy.
        assert first == second

    async def test_distinct_events_send_distinct_emails(self, consumer: Consumer) -> None:
        handler = consumer.handler("payments.payment_succeeded")
        await handler(payment_succeeded("7001"))
        await handler(payment_succeeded("7002"))
        assert len({e.message_id for e in consumer.sender.sent}) == 2


class TestPermanentFailures:
    async def test_an_unknown_recipient_is_permanent(self, consumer: Consumer) -> None:
        with pytest.raises(PermanentHandlerError, match="no user 99"):
            await consumer.handler("payments.payment_succeeded")(payment_succeeded(user_id=99))
        assert consumer.sender.attempts == 0
        assert consumer.inbox.records == {}

    @pytest.mark.parametrize(
        "payload",
        [
            {"user_id": None},
            {"user_id": True},
            {"payment_id": "five"},
            {"amount": "19.99"},
            {"amount": {"amount": 19.99, "currency": "EUR"}},
            {"amount": {"amount": "19.99", "currency": "XXX"}},
            {"email": 42},
            {"email": "not an address"},
        ],
    )
    async def test_an_invalid_payload_is_permanent(
        self, consumer: Consumer, payload: dict[str, object]
    ) -> None:
        with pytest.raises(PermanentHandlerError):
            await consumer.handler("payments.payment_succeeded")(payment_succeeded(**payload))
        assert consumer.sender.attempts == 0

    async def test_a_missing_field_is_permanent(self, consumer: Consumer) -> None:
        envelope = order_confirmed()
        payload = dict(envelope.payload)
        del payload["total"]
        handler = consumer.handler("orders.order_confirmed")
        with pytest.raises(PermanentHandlerError, match="total"):
            await handler(type(envelope)(**{**_fields(envelope), "payload": payload}))

    async def test_a_5xx_refusal_is_permanent_and_not_a_breaker_failure(
        self, consumer: Consumer
    ) -> None:
        consumer.sender.fail_with = MailRejectedError("buyer@acme.test", 550, "no such user")
        for event_id in ("1", "2", "3", "4", "5", "6"):
            with pytest.raises(PermanentHandlerError, match="550"):
                await consumer.handler("payments.payment_succeeded")(payment_succeeded(event_id))
        assert consumer.sender.attempts == 6  # never retried: the server answered
        assert (await consumer.guard.breaker.snapshot()).state is BreakerState.CLOSED
        assert consumer.inbox.records == {}


class TestOutages:
    async def test_a_failing_server_raises_a_retryable_dependency_failure(
        self, consumer: Consumer
    ) -> None:
        consumer.sender.fail_with = MailUnavailableError("421 service not available")
        with pytest.raises(DependencyFailureError) as caught:
            await consumer.handler("payments.payment_succeeded")(payment_succeeded())
        assert isinstance(caught.value, MailUnavailableError)
        assert "421" in caught.value.reason
        assert consumer.sender.attempts >= 2  # the guard retried: sending is retry-safe
        assert consumer.inbox.records == {}

    async def test_an_injected_outage_never_reaches_the_server(self, consumer: Consumer) -> None:
        consumer.guard.faults.set(FaultSpec(outage=True))
        with pytest.raises(MailUnavailableError, match="injected outage"):
            await consumer.handler("payments.payment_succeeded")(payment_succeeded())
        assert consumer.sender.attempts == 0
        assert consumer.inbox.records == {}

    async def test_an_open_breaker_pauses_the_consumer(self, consumer: Consumer) -> None:
        consumer.guard.faults.set(FaultSpec(outage=True))
        handler = consumer.handler("payments.payment_succeeded")
        for _ in range(2):  # 3 attempts each; the 5th consecutive failure opens the breaker
            with pytest.raises(MailUnavailableError):
                await handler(payment_succeeded())
        opened = await consumer.guard.breaker.snapshot()
        assert opened.state is BreakerState.OPEN
        with pytest.raises(DependencyUnavailableError) as caught:
            await handler(payment_succeeded())
        assert caught.value.reason == "breaker_open"
        assert not isinstance(caught.value, DependencyFailureError)

    async def test_recovers_when_the_server_is_back(self, consumer: Consumer) -> None:
        consumer.sender.fail_with = MailUnavailableError("421 busy")
        handler = consumer.handler("payments.payment_succeeded")
        with pytest.raises(MailUnavailableError):
            await handler(payment_succeeded("7001"))
        consumer.sender.fail_with = None
        await handler(payment_succeeded("7001"))  # the consumer's retry
        assert len(consumer.sender.sent) == 1
        assert ("notifications", "7001") in consumer.inbox.records


def _fields(envelope: object) -> dict[str, object]:
    names = ("id", "type", "version", "key", "occurred_at", "payload", "headers")
    return {name: getattr(envelope, name) for name in names}
