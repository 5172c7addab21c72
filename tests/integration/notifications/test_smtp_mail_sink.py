"""E-mails over real SMTP: the sender, the ``smtp`` guard and the mail sink's files."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from notifications_integration_support import (
    FROM,
    START,
    FakeInbox,
    ScriptedReplies,
    scripted_smtp_server,
)

from bazaar.contexts.notifications import (
    Email,
    GuardedMailer,
    MailRejectedError,
    MailUnavailableError,
    notification_subscription,
)
from bazaar.contexts.notifications.adapters import InMemoryRecipientDirectory, SmtpMailSender
from bazaar.infra.mail import MailArchive, MailSink
from bazaar.kernel.breaker import BreakerState
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Handler
from bazaar.kernel.observability import tracing
from bazaar.kernel.resilience import DependencyFailureError, DependencyGuard, FaultSpec

RECEIVED_AT = datetime.fromtimestamp(START, tz=UTC)


def email(message_id: str = "<1.payment_received@notifications.bazaar>", **extra: str) -> Email:
    return Email(
        to=extra.pop("to", "buyer@acme.test"),
        subject="Payment received",
        body_text="we received your payment of 19.99 EUR — merci",
        message_id=message_id,
        headers={"X-Bazaar-Event-Id": "1", **extra},
    )


def payment_succeeded(event_id: str, user_id: int = 21) -> Envelope:
    return Envelope(
        id=event_id,
        type="payments.payment_succeeded",
        version=1,
        key="501",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        payload={
            "tenant_id": 11,
            "payment_id": 501,
            "user_id": user_id,
            "amount": {"amount": "19.99", "currency": "EUR"},
        },
    )


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


class TestSendingToTheSink:
    async def test_a_sent_email_is_stored_and_read_back(
        self, sink: MailSink, sender: SmtpMailSender, guard: DependencyGuard
    ) -> None:
        await GuardedMailer(sender, guard).send(email())
        (mail,) = sink.archive.list()
        assert mail.to == "buyer@acme.test"
        assert mail.subject == "Payment received"
        assert mail.message_id == "<1.payment_received@notifications.bazaar>"
        assert mail.received_at == RECEIVED_AT
        assert mail.headers["From"] == FROM
        assert mail.headers["Delivered-To"] == "buyer@acme.test"
        assert mail.headers["Return-Path"] == "<noreply@bazaar.test>"
        assert mail.headers["X-Bazaar-Event-Id"] == "1"
        stored = sink.archive.read(mail.message_id)
        assert stored is not None
        assert "merci" in stored.get_content()

    async def test_the_same_message_id_twice_is_stored_once(
        self, sink: MailSink, sender: SmtpMailSender
    ) -> None:
        await sender.send(email(), timeout_s=5.0)
        await sender.send(email(), timeout_s=5.0)
        assert len(eml_files(sink.directory)) == 1
        assert len(sink.archive.list()) == 1

    async def test_concurrent_copies_of_one_message_id_leave_one_file(
        self, sink: MailSink, sender: SmtpMailSender
    ) -> None:
        await asyncio.gather(*(sender.send(email(), timeout_s=5.0) for _ in range(5)))
        files = eml_files(sink.directory)
        assert [f.suffix for f in files] == [".eml"]  # no temporary file left behind

    async def test_filters_by_recipient_ignoring_case(
        self, sink: MailSink, sender: SmtpMailSender, clock: ManualClock
    ) -> None:
        await sender.send(email("<1.t@x>", to="ann@acme.test"), timeout_s=5.0)
        clock.advance(1)
        await sender.send(email("<2.t@x>", to="bob@acme.test"), timeout_s=5.0)
        clock.advance(1)
        await sender.send(email("<3.t@x>", to="ann@acme.test"), timeout_s=5.0)
        archive = MailArchive(sink.directory)  # a reader of its own, as the API has
        assert [m.message_id for m in archive.list("ANN@acme.test")] == ["<1.t@x>", "<3.t@x>"]
        assert [m.message_id for m in archive.list()] == ["<1.t@x>", "<2.t@x>", "<3.t@x>"]
        assert archive.list("nobody@acme.test") == []

    async def test_an_archive_without_a_directory_is_empty(self, tmp_path: Path) -> None:
        assert MailArchive(tmp_path / "absent").list() == []

    async def test_stop_is_clean_and_idempotent(self, tmp_path: Path) -> None:
        sink = MailSink(tmp_path / "mail")
        await sink.start()
        port = sink.port
        assert port != 0
        await sink.stop()
        await sink.stop()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)


class TestServerReplies:
    async def test_a_5xx_to_the_recipient_is_a_rejection(self, guard: DependencyGuard) -> None:
        async with scripted_smtp_server(ScriptedReplies(rcpt="550 5.1.1 No such user")) as url:
            sender = SmtpMailSender(url, from_address=FROM, local_hostname="client.test")
            with pytest.raises(MailRejectedError) as caught:
                await GuardedMailer(sender, guard).send(email())
        assert caught.value.code == 550
        assert caught.value.recipient == "buyer@acme.test"
        snapshot = await guard.breaker.snapshot()
        assert (snapshot.calls, snapshot.failure_rate) == (1, 0.0)  # an answer, not a failure

    async def test_a_5xx_to_the_data_is_a_rejection(self, guard: DependencyGuard) -> None:
        async with scripted_smtp_server(ScriptedReplies(data="554 5.7.1 Spam")) as url:
            sender = SmtpMailSender(url, from_address=FROM, local_hostname="client.test")
            with pytest.raises(MailRejectedError, match="554"):
                await GuardedMailer(sender, guard).send(email())

    async def test_a_4xx_is_a_retryable_failure(self, guard: DependencyGuard) -> None:
        async with scripted_smtp_server(ScriptedReplies(rcpt="451 4.3.0 Try later")) as url:
            sender = SmtpMailSender(url, from_address=FROM, local_hostname="client.test")
            with pytest.raises(MailUnavailableError, match="451"):
                await GuardedMailer(sender, guard).send(email())
        assert (await guard.breaker.snapshot()).failure_rate == 1.0


class TestOutages:
    @pytest.fixture
    def recipients(self) -> InMemoryRecipientDirectory:
        return InMemoryRecipientDirectory({(11, 21): "buyer@acme.test"})

    def handler(
        self,
        sender: SmtpMailSender,
        guard: DependencyGuard,
        recipients: InMemoryRecipientDirectory,
        inbox: FakeInbox,
        clock: ManualClock,
    ) -> Handler:
        subscription = notification_subscription(
            sender=sender, guard=guard, recipients=recipients, inbox=inbox, clock=clock
        )
        handler = subscription.handler_for("payments.payment_succeeded")
        assert handler is not None
        return handler

    async def test_a_stopped_server_is_a_retryable_failure_that_records_nothing(
        self,
        sink: MailSink,
        sender: SmtpMailSender,
        guard: DependencyGuard,
        recipients: InMemoryRecipientDirectory,
        clock: ManualClock,
    ) -> None:
        await sink.stop()
        inbox = FakeInbox()
        handle = self.handler(sender, guard, recipients, inbox, clock)
        with pytest.raises(DependencyFailureError) as caught:
            await handle(payment_succeeded("9001"))
        assert isinstance(caught.value, MailUnavailableError)
        assert caught.value.dependency == "smtp"
        assert inbox.records == {}
        assert eml_files(sink.directory) == []

    async def test_an_injected_outage_is_a_retryable_failure(
        self,
        sink: MailSink,
        sender: SmtpMailSender,
        guard: DependencyGuard,
        recipients: InMemoryRecipientDirectory,
        clock: ManualClock,
    ) -> None:
        guard.faults.set(FaultSpec(outage=True))
        inbox = FakeInbox()
        handle = self.handler(sender, guard, recipients, inbox, clock)
        with pytest.raises(MailUnavailableError, match="injected outage"):
            await handle(payment_succeeded("9002"))
        assert inbox.records == {}
        assert sink.archive.list() == []
        guard.faults.clear()
        await handle(payment_succeeded("9002"))  # the consumer's retry, after the outage
        assert [m.to for m in sink.archive.list()] == ["buyer@acme.test"]
        assert (await guard.breaker.snapshot()).state is BreakerState.CLOSED

    async def test_a_payment_event_ends_as_one_email_at_the_sink(
        self,
        sink: MailSink,
        sender: SmtpMailSender,
        guard: DependencyGuard,
        recipients: InMemoryRecipientDirectory,
        clock: ManualClock,
    ) -> None:
        inbox = FakeInbox()
        handle = self.handler(sender, guard, recipients, inbox, clock)
        await handle(payment_succeeded("9003"))
        await handle(payment_succeeded("9003"))  # redelivered: the inbox skips it
        # A crash after the send lost the inbox record: sent again, stored once.
        await self.handler(sender, guard, recipients, FakeInbox(), clock)(payment_succeeded("9003"))
        (mail,) = sink.archive.list()
        assert mail.to == "buyer@acme.test"
        assert mail.subject == "Payment received"
        assert mail.message_id == "<9003.payment_received@notifications.bazaar>"
        assert mail.headers["X-Bazaar-Event-Type"] == "payments.payment_succeeded"
        assert mail.headers["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"
        assert ("notifications", "9003") in inbox.records


class TestTracing:
    async def test_each_send_is_a_client_span_naming_the_server_not_the_recipient(
        self, sink: MailSink, sender: SmtpMailSender
    ) -> None:
        kit = tracing.Tracing(service_name="test", sample_ratio=1.0, store=tracing.TraceStore(5))
        previous = tracing.installed()
        tracing.install(kit)
        try:
            with tracing.tracer().start_as_current_span("consumer") as parent:
                await sender.send(email(), timeout_s=5.0)
        finally:
            tracing.install(previous)
        assert kit.store is not None
        record = kit.store.get(format(parent.get_span_context().trace_id, "032x"))
        assert record is not None
        (smtp,) = [s for s in record.spans if s.name == "smtp send"]
        assert (smtp.kind, smtp.status) == ("client", "unset")
        assert smtp.parent_id == format(parent.get_span_context().span_id, "016x")
        assert "buyer@acme.test" not in str(smtp.attributes)
