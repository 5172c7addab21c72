"""The ``notifications`` consumer: events in, one e-mail per event out (capabilities §6.3).

Events and the payload fields read (all other fields are ignored):

=============================== ==========================================================
``payments.payment_succeeded``  ``tenant_id``, ``payment_id``, ``user_id``,
                                ``amount`` (``{"amount": "19.99", "currency": "EUR"}``),
                                ``email`` (optional: skips the directory)
``orders.order_confirmed``      ``tenant_id``, ``order_id``, ``user_id``, ``total`` (money),
                                ``email`` (optional)
=============================== ==========================================================

Delivery is at least once, deduplicated by id at both ends. The handler skips an event its
inbox already holds, sends, then records the event in the inbox. An e-mail is not a database
row, so sending and recording cannot share a transaction: a crash between the two sends the
e-mail again when the event is redelivered — with the same Message-ID, derived from the
event id, which the receiver (the mail sink, any mail system) already holds and drops.
A failure before the send records nothing; no business state is ever written here.

Failures, as the consumer runtime sees them (``bazaar.kernel.messaging.handlers``):
- an invalid payload, an unknown recipient, a 5xx refusal → ``PermanentHandlerError``
  (dead-lettered at once: retrying cannot help);
- the mail server failed → ``MailUnavailableError`` (a ``DependencyFailureError``): retried
  with backoff, then dead-lettered;
- the ``smtp`` breaker is open → ``DependencyUnavailableError``: the consumer pauses. The
  outbox keeps the events meanwhile: a mail outage never fails an order (§4.4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from bazaar.contexts.notifications.application.delivery import GuardedMailer
from bazaar.contexts.notifications.application.ports import MailSender, RecipientDirectory
from bazaar.contexts.notifications.domain.errors import InvalidEmailError, MailRejectedError
from bazaar.contexts.notifications.domain.model import Email, message_id_for
from bazaar.contexts.notifications.domain.templates import (
    Rendered,
    order_confirmed,
    payment_received,
)
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Handler, PermanentHandlerError, Subscription
from bazaar.kernel.messaging.ports import Inbox
from bazaar.kernel.money import Money, MoneyError
from bazaar.kernel.resilience import DependencyGuard

__all__ = [
    "COMPOSERS",
    "CONSUMER",
    "TOPICS",
    "Notice",
    "NotificationHandler",
    "notification_subscription",
]

CONSUMER = "notifications"
TOPICS = ("orders", "payments")


@dataclass(frozen=True, slots=True)
class Notice:
    """What one event asks for: a rendered template and whom it is for."""

    tenant_id: int
    user_id: int
    rendered: Rendered
    email: str | None = None  # the address, when the event carries it


def _field(payload: Mapping[str, Any], name: str) -> Any:
    if name not in payload:
        raise PermanentHandlerError(f"payload has no {name!r}")
    return payload[name]


def _int(payload: Mapping[str, Any], name: str) -> int:
    value = _field(payload, name)
    # Ids may travel as strings (JSON numbers past 2**53 lose digits in JavaScript).
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PermanentHandlerError(f"payload field {name!r} must be an integer id, got {value!r}")


def _money(payload: Mapping[str, Any], name: str) -> Money:
    value = _field(payload, name)
    if not isinstance(value, Mapping):
        raise PermanentHandlerError(f"payload field {name!r} must be an amount object")
    try:
        return Money.from_json(value)
    except MoneyError as exc:
        raise PermanentHandlerError(f"payload field {name!r}: {exc}") from exc


def _email(payload: Mapping[str, Any]) -> str | None:
    value = payload.get("email")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PermanentHandlerError(f"payload field 'email' must be a string, got {value!r}")
    return value


def _payment_succeeded(payload: Mapping[str, Any]) -> Notice:
    rendered = payment_received(
        payment_id=_int(payload, "payment_id"), amount=_money(payload, "amount")
    )
    return Notice(_int(payload, "tenant_id"), _int(payload, "user_id"), rendered, _email(payload))


def _order_confirmed(payload: Mapping[str, Any]) -> Notice:
    order_id = _field(payload, "order_id")
    if isinstance(order_id, bool) or not isinstance(order_id, int | str) or order_id == "":
        raise PermanentHandlerError(f"payload field 'order_id' must be an id, got {order_id!r}")
    rendered = order_confirmed(order_id=str(order_id), total=_money(payload, "total"))
    return Notice(_int(payload, "tenant_id"), _int(payload, "user_id"), rendered, _email(payload))


# Event type -> how its payload becomes a notice (version 1 of each payload).
COMPOSERS: Mapping[str, Callable[[Mapping[str, Any]], Notice]] = {
    "payments.payment_succeeded": _payment_succeeded,
    "orders.order_confirmed": _order_confirmed,
}


class NotificationHandler:
    """The handler of every notifying event type (one instance per consumer).

    Idempotent by id: inbox check → compose → send through the guard → inbox record.
    """

    def __init__(
        self,
        *,
        mailer: GuardedMailer,
        recipients: RecipientDirectory,
        inbox: Inbox,
        clock: Clock,
        composers: Mapping[str, Callable[[Mapping[str, Any]], Notice]] = COMPOSERS,
        consumer: str = CONSUMER,
    ) -> None:
        self.mailer = mailer
        self.recipients = recipients
        self.inbox = inbox
        self.clock = clock
        self.composers = composers
        self.consumer = consumer

    async def __call__(self, envelope: Envelope) -> None:
        """Send the event's e-mail unless this consumer handled the event before.

        Raises:
            PermanentHandlerError: no template for the type, an invalid payload, no such
                recipient, or the server refused the message for good.
            MailUnavailableError: the mail server failed (retry later).
            DependencyUnavailableError: the ``smtp`` breaker is open (pause).
        """
        if await self.inbox.contains(self.consumer, envelope.id):
            return
        email = await self.compose(envelope)
        try:
            await self.mailer.send(email)
        except MailRejectedError as exc:
            raise PermanentHandlerError(f"the mail server refused it: {exc}") from exc
        await self.inbox.record(self.consumer, envelope.id, utc_from_timestamp(self.clock.now()))

    async def compose(self, envelope: Envelope) -> Email:
        """The e-mail of ``envelope``; the same envelope always gives the same e-mail.

        Raises:
            PermanentHandlerError: no template for the type, an invalid payload, no such
                recipient, or an address that cannot be used.
        """
        composer = self.composers.get(envelope.type)
        if composer is None:
            raise PermanentHandlerError(f"no notification for {envelope.type!r}")
        notice = composer(envelope.payload)
        to = notice.email or await self.recipients.email_of(notice.tenant_id, notice.user_id)
        if to is None:
            raise PermanentHandlerError(
                f"tenant {notice.tenant_id} has no user {notice.user_id} to notify"
            )
        rendered = notice.rendered
        try:
            return Email(
                to=to,
                subject=rendered.subject,
                body_text=rendered.body_text,
                message_id=message_id_for(envelope.id, rendered.template),
                headers={
                    # The event's time, not the sending time: a re-sent copy is identical.
                    "Date": format_datetime(envelope.occurred_at),
                    "X-Bazaar-Event-Id": envelope.id,
                    "X-Bazaar-Event-Type": envelope.type,
                    "X-Bazaar-Tenant-Id": str(notice.tenant_id),
                },
            )
        except InvalidEmailError as exc:
            raise PermanentHandlerError(f"cannot build the e-mail: {exc}") from exc


def notification_subscription(
    *,
    sender: MailSender,
    guard: DependencyGuard,
    recipients: RecipientDirectory,
    inbox: Inbox,
    clock: Clock,
) -> Subscription:
    """The ``notifications`` consumer group: topics ``orders`` and ``payments``.

    Args:
        sender: one attempt at handing an e-mail to the mail server (SMTP in production).
        guard: the ``smtp`` dependency guard (timeouts, retries, breaker, faults).
        recipients: user id → address, through the identity context's service.
        inbox: the ids of the events this consumer handled.
        clock: the time of inbox records.
    """
    handler = NotificationHandler(
        mailer=GuardedMailer(sender, guard), recipients=recipients, inbox=inbox, clock=clock
    )
    handlers: dict[str, Handler] = dict.fromkeys(COMPOSERS, handler)
    return Subscription(consumer=CONSUMER, topics=TOPICS, handlers=handlers)
