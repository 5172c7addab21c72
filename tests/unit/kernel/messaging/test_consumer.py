"""The consumer runtime on ManualClock: inbox dedupe, retries, dead letters, pauses, leases."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.messaging.consumer import (
    ConsumerConfig,
    DeadLetterReason,
    MessageConsumer,
)
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import PermanentHandlerError, Subscription
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.ports import Record
from bazaar.kernel.messaging.sqlalchemy import DeadLetter
from bazaar.kernel.resilience.errors import DependencyUnavailableError

AT = datetime(2026, 11, 26, tzinfo=UTC)


class MemoryInbox:
    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        if (consumer, message_id) in self.ids:
            return False
        self.ids.add((consumer, message_id))
        return True

    async def contains(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.ids

    async def seen(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        return {m for m in message_ids if (consumer, m) in self.ids}

    async def record_all(self, consumer: str, message_ids: Sequence[str], at: datetime) -> None:
        self.ids.update((consumer, m) for m in message_ids)


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def add(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def next_id(self) -> int:
        self.value += 1
        return self.value


def envelope(
    message_id: str, key: str = "k", type_: str = "orders.order_placed", **payload: object
) -> Envelope:
    return Envelope(id=message_id, type=type_, version=1, key=key, occurred_at=AT, payload=payload)


class Harness:
    def __init__(self, handler_errors: list[BaseException | None] | None = None) -> None:
        self.clock = ManualClock()
        self.broker = InMemoryBroker(partitions=1)
        self.inbox = MemoryInbox()
        self.dead = MemoryDeadLetters()
        self.seen: list[str] = []
        self.errors = list(handler_errors or [])

        async def handle(message: Envelope) -> None:
            self.seen.append(message.id)
            if self.errors:
                error = self.errors.pop(0)
                if error is not None:
                    raise error

        self.subscription = Subscription(
            consumer="test", topics=("orders",), handlers={"orders.order_placed": handle}
        )
        self.consumer = MessageConsumer(
            self.subscription,
            self.broker,
            leases=InMemoryLeaseStore(self.clock),
            inbox=self.inbox,
            dead_letters=self.dead,
            clock=self.clock,
            ids=Counter(),
            holder="worker-1",
            known_types={"orders.order_placed", "orders.order_cancelled"},
            config=ConsumerConfig(max_attempts=3, backoff_base_s=1.0, backoff_max_s=10.0),
            rng=random.Random(7),
        )

    async def publish(self, *envelopes: Envelope) -> None:
        await self.broker.publish("orders", [Record(e.key, e.encode()) for e in envelopes])

    async def publish_raw(self, data: bytes) -> None:
        await self.broker.publish("orders", [Record("k", data)])

    async def drain(self) -> int:
        return await self.consumer.drain("orders", 0)


class TestHappyPath:
    async def test_handles_in_order_acks_and_records_the_inbox(self) -> None:
        h = Harness()
        await h.publish(envelope("1"), envelope("2"), envelope("3"))
        assert await h.drain() == 3
        assert h.seen == ["1", "2", "3"]
        assert h.inbox.ids == {("test", "1"), ("test", "2"), ("test", "3")}
        assert await h.broker.backlog("orders", "test") == 0
        assert await h.drain() == 0

    async def test_a_redelivered_message_has_one_effect(self) -> None:
        h = Harness()
        await h.publish(envelope("1"))
        await h.drain()
        await h.publish(envelope("1"))  # the relay published it twice (crash before marking)
        await h.drain()
        assert h.seen == ["1"]

    async def test_a_duplicate_inside_one_batch_has_one_effect(self) -> None:
        h = Harness()
        await h.publish(envelope("1"), envelope("1"), envelope("2"))
        await h.drain()
        assert h.seen == ["1", "2"]
        assert h.inbox.ids == {("test", "1"), ("test", "2")}

    async def test_a_type_without_a_handler_that_some_context_declares_is_skipped(self) -> None:
        h = Harness()
        await h.publish(envelope("1", type_="orders.order_cancelled"))
        await h.drain()
        assert (h.seen, h.dead.letters) == ([], [])


class TestPoison:
    async def test_undecodable_bytes_go_straight_to_dead_letters(self) -> None:
        h = Harness()
        await h.publish_raw(b"\x00garbage")
        await h.publish(envelope("2"))
        await h.drain()
        assert [(d.reason, d.attempts, d.data) for d in h.dead.letters] == [
            (DeadLetterReason.MALFORMED, 0, b"\x00garbage")
        ]
        assert h.seen == ["2"]  # the poison did not block its partition

    async def test_an_unknown_type_is_dead_lettered_with_its_name(self) -> None:
        h = Harness()
        await h.publish(envelope("1", type_="orders.order_teleported"))
        await h.drain()
        (letter,) = h.dead.letters
        assert (letter.reason, letter.error, letter.message_id) == (
            DeadLetterReason.UNKNOWN_TYPE,
            "orders.order_teleported",
            "1",
        )

    async def test_a_newer_version_than_the_handler_knows_is_dead_lettered(self) -> None:
        h = Harness()
        newer = Envelope(
            id="1", type="orders.order_placed", version=2, key="k", occurred_at=AT, payload={}
        )
        await h.publish(newer)
        await h.drain()
        assert [d.reason for d in h.dead.letters] == [DeadLetterReason.UNKNOWN_VERSION]

    async def test_a_permanent_error_is_not_retried(self) -> None:
        h = Harness([PermanentHandlerError("order 9 does not exist")])
        await h.publish(envelope("1"))
        await h.drain()
        assert h.seen == ["1"]
        (letter,) = h.dead.letters
        assert (letter.reason, letter.attempts, letter.error) == (
            DeadLetterReason.PERMANENT,
            1,
            "order 9 does not exist",
        )


class TestRetries:
    async def test_a_transient_failure_is_retried_with_backoff_then_handled(self) -> None:
        h = Harness([RuntimeError("smtp hiccup"), None])
        await h.publish(envelope("1"))
        await h.drain()
        assert h.seen == ["1", "1"]
        assert h.dead.letters == []
        assert ("test", "1") in h.inbox.ids
        assert 0 <= sum(h.clock.sleeps) <= 1.0  # full jitter under the first cap

    async def test_exhausted_attempts_dead_letter_with_error_attempts_and_headers(self) -> None:
        h = Harness([RuntimeError("down")] * 3)
        message = Envelope(
            id="1",
            type="orders.order_placed",
            version=1,
            key="k",
            occurred_at=AT,
            payload={},
            headers={"traceparent": "00-abc"},
        )
        await h.publish(message)
        await h.drain()
        assert h.seen == ["1", "1", "1"]
        (letter,) = h.dead.letters
        assert (letter.reason, letter.attempts, letter.error, letter.headers) == (
            DeadLetterReason.EXHAUSTED,
            3,
            "RuntimeError: down",
            {"traceparent": "00-abc"},
        )
        assert ("test", "1") not in h.inbox.ids  # a replay will run it again
        assert await h.broker.backlog("orders", "test") == 0

    async def test_backoff_grows_and_is_capped(self) -> None:
        h = Harness([RuntimeError("down")] * 3)
        await h.publish(envelope("1"))
        await h.drain()
        sleeps = h.clock.sleeps
        assert len(sleeps) >= 2
        assert all(0 <= s <= 10.0 for s in sleeps)

    async def test_an_open_breaker_pauses_for_its_cool_off_between_attempts(self) -> None:
        unavailable = DependencyUnavailableError("smtp", "breaker_open", 30.0)
        h = Harness([unavailable, unavailable, None])
        await h.publish(envelope("1"))
        await h.drain()
        assert h.dead.letters == []
        assert h.seen == ["1"] * 3
        assert sum(h.clock.sleeps) == pytest.approx(2 * 30.0)  # the cool-off, not a backoff

    async def test_a_long_outage_dead_letters_one_message_per_attempts_cool_offs(self) -> None:
        unavailable = DependencyUnavailableError("smtp", "breaker_open", 30.0)
        h = Harness([unavailable] * 6)
        await h.publish(envelope("1"), envelope("2"))
        await h.drain()
        assert [(d.message_id, d.attempts, d.error) for d in h.dead.letters] == [
            ("1", 3, "smtp unavailable (breaker_open)"),
            ("2", 3, "smtp unavailable (breaker_open)"),
        ]
        assert sum(h.clock.sleeps) == pytest.approx(4 * 30.0)  # no flood: minutes, not ms


class TestPartitions:
    async def test_two_processes_never_own_the_same_partition(self) -> None:
        clock = ManualClock()
        broker = InMemoryBroker(partitions=4)
        leases = InMemoryLeaseStore(clock)

        def consumer(holder: str) -> MessageConsumer:
            return MessageConsumer(
                Subscription(consumer="c", topics=("orders",), handlers={}),
                broker,
                leases=leases,
                inbox=MemoryInbox(),
                dead_letters=MemoryDeadLetters(),
                clock=clock,
                ids=Counter(),
                holder=holder,
                config=ConsumerConfig(lease_ttl_s=10.0),
            )

        first, second = consumer("a"), consumer("b")
        first.max_owned = 2
        await first._rebalance()
        await second._rebalance()
        assert len(first.owned) == 2
        assert len(second.owned) == 2
        assert not set(first.owned) & set(second.owned)
        # "a" stops renewing (it crashed): after the TTL "b" takes its partitions over.
        for task in (first, second):
            task.close()
        clock.advance(11.0)
        second._stop.clear()
        await second._rebalance()
        assert len(second.owned) == 4
        second.close()
        await asyncio.gather(
            *(p.task for p in second._partitions if p.task is not None), return_exceptions=True
        )
