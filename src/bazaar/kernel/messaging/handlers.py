"""What a consumer is made of: handlers by message type, upcasters, and how handlers fail.

A handler receives the envelope already upcast to the version it declares. It must be
idempotent by construction: write its effect together with an ``Inbox`` record, or, for an
effect outside the database (an e-mail), carry an id the receiver dedupes on.

How a handler's failure is treated:
- ``PermanentHandlerError`` (and a schema-invalid payload): dead-lettered at once;
- ``bazaar.kernel.resilience.DependencyUnavailableError`` (a breaker is open): the
  consumer pauses for the breaker's cool-off before its next attempt (§6.4b);
- anything else: retried with backoff and jitter, then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.errors import MessagingError, UnknownMessageTypeError

__all__ = [
    "Handler",
    "PermanentHandlerError",
    "Subscription",
    "Upcaster",
    "upcast",
]

Handler = Callable[[Envelope], Awaitable[None]]
# Turns the payload of version N into the payload of version N + 1.
Upcaster = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class PermanentHandlerError(MessagingError):
    """The message can never be handled (invalid payload, a referenced row is gone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Subscription:
    """A consumer group: its name, the topics it reads and a handler per message type.

    ``versions`` names the payload version each handler expects (default 1); older
    versions are upcast through ``upcasters[(type, from_version)]``. Types of the topics
    without a handler are acknowledged and skipped: a consumer subscribes to a topic, not
    to every event of it.
    """

    consumer: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler]
    versions: Mapping[str, int] = field(default_factory=dict)
    upcasters: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)
    # True when the handlers record the message id in the inbox themselves, in the
    # transaction of their effect; the runtime then skips its own (redundant) record.
    records_inbox: bool = False

    def handler_for(self, message_type: str) -> Handler | None:
        return self.handlers.get(message_type)


def upcast(envelope: Envelope, subscription: Subscription) -> Envelope:
    """The envelope at the version its handler expects.

    Raises:
        UnknownMessageTypeError: newer than the handler knows, or a step has no upcaster.
    """
    wanted = subscription.versions.get(envelope.type, 1)
    if envelope.version > wanted:
        raise UnknownMessageTypeError(envelope.type, envelope.version)
    current = envelope
    while current.version < wanted:
        step = subscription.upcasters.get((current.type, current.version))
        if step is None:
            raise UnknownMessageTypeError(current.type, current.version)
        current = replace(current, version=current.version + 1, payload=step(current.payload))
    return current
