"""Reliable messaging: envelopes, the outbox and its relay, brokers, consumers with an inbox,
retries and dead letters (capabilities §6.1–6.5).

    UnitOfWork.commit ──outbox rows──▶ OutboxRelay ──Broker.publish──▶ topic/partition
                                                                          │
    DeadLetters ◀──give up── MessageConsumer ◀──fetch/ack (leased)───────┘
                                  │
                       handler(envelope) + inbox record
"""

from __future__ import annotations

from bazaar.kernel.messaging.consumer import (
    ConsumerConfig,
    ConsumerListener,
    DeadLetterReason,
    HandleResult,
    MessageConsumer,
)
from bazaar.kernel.messaging.context import add_header_source, current_headers
from bazaar.kernel.messaging.dead_letters import (
    DeadLetterNotFoundError,
    DeadLetters,
    DeadLetterStore,
)
from bazaar.kernel.messaging.envelope import MAX_ENVELOPE_BYTES, Envelope
from bazaar.kernel.messaging.errors import (
    BrokerError,
    MalformedMessageError,
    MessagingError,
    UnknownMessageTypeError,
)
from bazaar.kernel.messaging.events import envelope_of, payload_of
from bazaar.kernel.messaging.guarded import GuardedBroker
from bazaar.kernel.messaging.handlers import (
    Handler,
    PermanentHandlerError,
    Subscription,
    Upcaster,
    upcast,
)
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.ports import Broker, Delivery, Inbox, Record, partition_for
from bazaar.kernel.messaging.relay import OutboxRelay, OutboxSource, RelayConfig, RelayListener
from bazaar.kernel.messaging.runtime import (
    AutoscalePolicy,
    Autoscaler,
    MessagingRuntime,
    Runnable,
)
from bazaar.kernel.messaging.sqlalchemy import (
    DeadLetter,
    OutboxRow,
    SqlDeadLetterStore,
    SqlInbox,
    SqlInboxStore,
    SqlOutbox,
)

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "AutoscalePolicy",
    "Autoscaler",
    "Broker",
    "BrokerError",
    "ConsumerConfig",
    "ConsumerListener",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "DeadLetterReason",
    "DeadLetterStore",
    "DeadLetters",
    "Delivery",
    "Envelope",
    "GuardedBroker",
    "HandleResult",
    "Handler",
    "InMemoryBroker",
    "Inbox",
    "MalformedMessageError",
    "MessageConsumer",
    "MessagingError",
    "MessagingRuntime",
    "OutboxRelay",
    "OutboxRow",
    "OutboxSource",
    "PermanentHandlerError",
    "Record",
    "RelayConfig",
    "RelayListener",
    "Runnable",
    "SqlDeadLetterStore",
    "SqlInbox",
    "SqlInboxStore",
    "SqlOutbox",
    "Subscription",
    "UnknownMessageTypeError",
    "Upcaster",
    "add_header_source",
    "current_headers",
    "envelope_of",
    "partition_for",
    "payload_of",
    "upcast",
]
