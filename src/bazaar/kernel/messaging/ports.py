"""Ports of the messaging block: the broker, the inbox and the dead-letter store.

Adapters: ``sqlite_log.SqliteLogBroker`` (embedded, the default) and
``redis_streams.RedisStreamsBroker``; ``sqlalchemy`` holds the SQL inbox, outbox and
dead-letter tables. Every broker passes ``bazaar.testing.contracts.broker``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "Broker",
    "Delivery",
    "Inbox",
    "Record",
    "partition_for",
]


def partition_for(key: str, partitions: int) -> int:
    """The partition of ``key``: stable across processes and restarts (not ``hash()``)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """One message to append: the partition key and the encoded envelope."""

    key: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a consumer group; ``offset`` is the broker's position of it.

    Offsets are opaque strings (a log row id, a stream entry id): they order messages within
    one partition for the broker, but do not compare as strings (``999-0`` < ``1000-0`` in
    Redis) and repeat across partitions — a delivery is identified by ``(topic, partition,
    offset)``. ``redelivered`` is True when the group received it before without acking.
    """

    topic: str
    partition: int
    offset: str
    key: str
    data: bytes
    redelivered: bool = False


class Broker(Protocol):
    """A partitioned log with consumer groups (capabilities §6.2).

    Each topic has ``partitions`` partitions; a record goes to ``partition_for(key)``, so
    records of one key keep their order. A consumer group reads each partition through at
    most one consumer at a time (the caller holds that partition's lease) and acks what it
    handled; what it does not ack is delivered again — at-least-once.

    Acking an unknown or already acked offset does nothing. Retention differs by adapter:
    the SQLite log never trims what a known group has not acked; Redis Streams trims by
    length and age regardless (size retention for the slowest consumer). Durability of
    Redis depends on its configuration: ``appendonly yes`` with ``appendfsync always``
    makes "appended when ``publish`` returns" hold across a restart (targets R8).
    """

    @property
    def partitions(self) -> int: ...

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Append ``records`` durably, in order; when this returns they will be delivered.

        Raises:
            BrokerError: nothing or only part was appended (the caller publishes again;
                consumers absorb the duplicates through their inbox).
        """
        ...

    async def fetch(
        self, topic: str, group: str, partition: int, *, limit: int, block_s: float = 0.0
    ) -> list[Delivery]:
        """The group's unacknowledged messages of one partition, oldest first, up to ``limit``.

        Messages delivered earlier and not acked come first (again), then new ones. Waits up
        to ``block_s`` for something new when there is nothing. Creates the group on first
        use, starting at the beginning of the partition.
        """
        ...

    async def ack(self, topic: str, group: str, partition: int, offsets: Sequence[str]) -> None:
        """Mark deliveries handled; they are never delivered to this group again."""
        ...

    async def backlog(self, topic: str, group: str) -> int:
        """Messages of the topic the group has not acked (unread and pending), all partitions."""
        ...

    async def aclose(self) -> None: ...


class Inbox(Protocol):
    """Ids of messages a consumer has handled, written in the transaction of the effect.

    A consumer records the message id together with its effect; a redelivered message finds
    its id and is acknowledged without a second effect (capabilities §6.3).
    """

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        """Record the id; False when the consumer handled this message before."""
        ...

    async def contains(self, consumer: str, message_id: str) -> bool: ...

    async def seen(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Which of ``message_ids`` the consumer handled before (one lookup for a batch)."""
        ...

    async def record_all(self, consumer: str, message_ids: Sequence[str], at: datetime) -> None:
        """Record many ids at once; ids recorded before are left as they are."""
        ...
