"""The consumer runtime: partitions under lease, inbox dedupe, retries, dead letters (§6.3–6.4).

A ``MessageConsumer`` runs one ``Subscription`` (a consumer group) in one process. For each
partition of each topic it may own, it takes the partition's lease — so at most one process
reads a partition at a time and messages of one key are handled in order — then loops:
fetch a batch, handle each message, ack the batch.

Per message:
- bytes that are not an envelope, a type nobody declares, or a version newer than the
  handler knows are *poison*: dead-lettered at once (they can never succeed);
- an id already in the consumer's inbox is a redelivery: acked without a second effect
  (one inbox lookup per fetched batch, and one write recording the batch's handled ids);
- a failure is retried in place with full-jitter backoff (order per key is kept, at the
  price of holding the partition while it retries), up to ``max_attempts``, then
  dead-lettered with the error, the attempts and the original headers;
- ``DependencyUnavailableError`` (the dependency's breaker is open) pauses the partition for
  the breaker's cool-off before the next attempt, so during an outage a partition spends
  one attempt per cool-off instead of burning through its messages and flooding the dead
  letters (§6.4b); once the dependency is back, handling resumes at full speed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.locks.ports import Lease, LeaseStore
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.errors import MalformedMessageError, UnknownMessageTypeError
from bazaar.kernel.messaging.handlers import PermanentHandlerError, Subscription, upcast
from bazaar.kernel.messaging.ports import Broker, Delivery, Inbox
from bazaar.kernel.messaging.sqlalchemy import DeadLetter
from bazaar.kernel.observability import tracing
from bazaar.kernel.resilience.errors import DependencyUnavailableError
from bazaar.kernel.retry.policy import RetryPolicy, full_jitter

__all__ = [
    "ConsumerConfig",
    "ConsumerListener",
    "DeadLetterReason",
    "DeadLetterSink",
    "HandleResult",
    "MessageConsumer",
]

log = logging.getLogger(__name__)


class DeadLetterReason:
    """Why a message was dead-lettered (the ``reason`` column)."""

    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown-type"
    UNKNOWN_VERSION = "unknown-version"
    PERMANENT = "permanent"
    EXHAUSTED = "exhausted"


class HandleResult:
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


class DeadLetterSink(Protocol):
    async def add(self, letter: DeadLetter) -> None: ...


class IdSource(Protocol):
    def next_id(self) -> int: ...


class ConsumerListener(Protocol):
    """What the runtime reports (metrics, logs)."""

    def handled(self, consumer: str, result: str, duration_s: float) -> None: ...

    def retried(self, consumer: str, attempt: int, error: BaseException) -> None: ...

    def paused(self, consumer: str, dependency: str, seconds: float) -> None: ...


class _NullListener:
    def handled(self, consumer: str, result: str, duration_s: float) -> None:
        pass

    def retried(self, consumer: str, attempt: int, error: BaseException) -> None:
        pass

    def paused(self, consumer: str, dependency: str, seconds: float) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    handler_timeout_s: float = 30.0
    batch_size: int = 50
    lease_ttl_s: float = 10.0
    # An idle partition's fetch waits this long for news, growing from the first value to
    # the second while nothing arrives (the second is also the back-off after a failure).
    poll_interval_s: tuple[float, float] = (0.05, 2.0)
    # The shortest pause when a breaker is open (its own retry-after may be shorter).
    min_pause_s: float = 1.0
    # Whether the runtime records handled ids in the inbox itself. Handlers whose effect is
    # a database write record it in their own transaction instead and switch this off.
    record_inbox: bool = True

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay_s=self.backoff_base_s,
            max_delay_s=max(self.backoff_base_s, self.backoff_max_s),
        )


@dataclass(slots=True)
class _Batch:
    """Inbox state of one fetched batch: ids known handled, ids to record at its end."""

    seen: set[str]
    to_record: list[str] = field(default_factory=list)


def _consumer_span(consumer: str, envelope: Envelope, attempt: int) -> AbstractContextManager[Span]:
    """A consumer span per handler attempt, a child of the producer span in the envelope.

    The envelope's ``traceparent`` was stamped when the outbox row was written, so the
    handler's work (and its database statements) joins the trace of the request that
    raised the event: one checkout, one trace, across the async hop (capabilities §10.1).
    """
    return tracing.tracer().start_as_current_span(
        f"{consumer} process {envelope.type}",
        context=tracing.context_from_headers(envelope.headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "bazaar",
            "messaging.destination.name": envelope.topic,
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": envelope.id,
            "bazaar.attempt": attempt,
        },
        record_exception=False,
        set_status_on_exception=False,
    )


def _decode(delivery: Delivery) -> Envelope | MalformedMessageError:
    try:
        return Envelope.decode(delivery.data)
    except MalformedMessageError as exc:
        return exc


@dataclass(slots=True)
class _Partition:
    topic: str
    number: int
    lease: Lease | None = None
    task: asyncio.Task[None] | None = None
    checked_at: float = field(default=float("-inf"))


class MessageConsumer:
    """Runs one subscription: owns partitions under lease and handles their messages."""

    def __init__(
        self,
        subscription: Subscription,
        broker: Broker,
        *,
        leases: LeaseStore,
        inbox: Inbox,
        dead_letters: DeadLetterSink,
        clock: Clock,
        ids: IdSource,
        holder: str,
        known_types: Iterable[str] | None = None,
        config: ConsumerConfig | None = None,
        listener: ConsumerListener | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.subscription = subscription
        self.broker = broker
        self.leases = leases
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.clock = clock
        self.ids = ids
        self.holder = holder
        # Types some context declares; a type outside this set is poison. None: only the
        # subscription's own handlers count as known, everything else is skipped.
        self.known_types = None if known_types is None else frozenset(known_types)
        self.config = config or ConsumerConfig()
        self.listener: ConsumerListener = listener or _NullListener()
        self.rng = rng or random.Random()
        self._policy = self.config.retry_policy
        self._stop = asyncio.Event()
        self._partitions = [
            _Partition(topic, number)
            for topic in subscription.topics
            for number in range(broker.partitions)
        ]
        self.max_owned = len(self._partitions)

    @property
    def name(self) -> str:
        return self.subscription.consumer

    @property
    def owned(self) -> list[tuple[str, int]]:
        return [(p.topic, p.number) for p in self._partitions if p.lease is not None]

    # --- one message ---

    async def handle(self, delivery: Delivery) -> str:
        """Handle one delivery to the end: handled, duplicate, skipped or dead-lettered."""
        return (await self._handle_batch([delivery]))[0]

    async def _handle_batch(self, deliveries: list[Delivery]) -> list[str]:
        """Handle deliveries in order with one inbox lookup and one inbox write for all.

        Recording the batch's ids after the batch (not after each message) widens the
        window in which a crash repeats an effect from one message to one batch; consumers
        whose effect must happen once record in their own transaction (records_inbox).
        """
        decoded = [_decode(d) for d in deliveries]
        ids = [e.id for e in decoded if isinstance(e, Envelope)]
        batch = _Batch(seen=await self.inbox.seen(self.name, ids) if ids else set())
        results = []
        try:
            for delivery, envelope in zip(deliveries, decoded, strict=True):
                started = self.clock.monotonic()
                result = await self._handle(delivery, envelope, batch)
                self.listener.handled(self.name, result, self.clock.monotonic() - started)
                results.append(result)
        finally:
            # What was handled stays recorded even if a later message of the batch raised.
            if batch.to_record:
                at = utc_from_timestamp(self.clock.now())
                await self.inbox.record_all(self.name, batch.to_record, at)
        return results

    async def _handle(
        self, delivery: Delivery, envelope: Envelope | MalformedMessageError, batch: _Batch
    ) -> str:
        if isinstance(envelope, MalformedMessageError):
            await self._dead_letter(delivery, None, DeadLetterReason.MALFORMED, envelope.reason, 0)
            return HandleResult.DEAD_LETTERED
        handler = self.subscription.handler_for(envelope.type)
        if handler is None:
            if self.known_types is not None and envelope.type not in self.known_types:
                await self._dead_letter(
                    delivery, envelope, DeadLetterReason.UNKNOWN_TYPE, envelope.type, 0
                )
                return HandleResult.DEAD_LETTERED
            return HandleResult.SKIPPED
        try:
            envelope = upcast(envelope, self.subscription)
        except UnknownMessageTypeError as exc:
            await self._dead_letter(
                delivery, envelope, DeadLetterReason.UNKNOWN_VERSION, str(exc), 0
            )
            return HandleResult.DEAD_LETTERED
        if envelope.id in batch.seen:
            return HandleResult.DUPLICATE
        attempt = 0
        while True:
            attempt += 1
            try:
                with _consumer_span(self.name, envelope, attempt) as span:
                    try:
                        async with asyncio.timeout(self.config.handler_timeout_s):
                            await handler(envelope)
                    except Exception as exc:
                        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                        raise
            except DependencyUnavailableError as exc:
                # An open breaker says "not now": wait out its cool-off before the next
                # attempt instead of burning the attempts in milliseconds, so an outage
                # dead-letters at most one message per partition per max_attempts cool-offs.
                error = f"{exc.dependency} unavailable ({exc.reason})"
                if attempt >= self._policy.max_attempts:
                    await self._dead_letter(
                        delivery, envelope, DeadLetterReason.EXHAUSTED, error, attempt
                    )
                    return HandleResult.DEAD_LETTERED
                pause = max(self.config.min_pause_s, exc.retry_after_s)
                self.listener.paused(self.name, exc.dependency, pause)
                if not await self._sleep(pause):
                    raise asyncio.CancelledError from exc
                continue
            except PermanentHandlerError as exc:
                await self._dead_letter(
                    delivery, envelope, DeadLetterReason.PERMANENT, exc.reason, attempt
                )
                return HandleResult.DEAD_LETTERED
            except Exception as exc:  # any other failure is retried, then dead-lettered
                error = (
                    "timeout" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                )
                if attempt >= self._policy.max_attempts:
                    await self._dead_letter(
                        delivery, envelope, DeadLetterReason.EXHAUSTED, error, attempt
                    )
                    return HandleResult.DEAD_LETTERED
                self.listener.retried(self.name, attempt, exc)
                if not await self._sleep(full_jitter(self._policy, attempt, self.rng)):
                    raise asyncio.CancelledError from exc
                continue
            batch.seen.add(envelope.id)
            if self.config.record_inbox and not self.subscription.records_inbox:
                batch.to_record.append(envelope.id)
            return HandleResult.HANDLED

    async def _dead_letter(
        self,
        delivery: Delivery,
        envelope: Envelope | None,
        reason: str,
        error: str,
        attempts: int,
    ) -> None:
        log.warning(
            "dead-lettered %s/%s@%s for %s: %s: %s",
            delivery.topic,
            delivery.partition,
            delivery.offset,
            self.name,
            reason,
            error,
        )
        await self.dead_letters.add(
            DeadLetter(
                id=self.ids.next_id(),
                consumer=self.name,
                topic=delivery.topic,
                partition=delivery.partition,
                message_id=envelope.id if envelope else None,
                type=envelope.type if envelope else None,
                key=delivery.key,
                data=delivery.data,
                headers=dict(envelope.headers) if envelope else {},
                reason=reason,
                error=error[:2000],
                attempts=attempts,
                failed_at=self.clock.now(),
            )
        )

    # --- one partition ---

    async def drain(self, topic: str, partition: int, *, block_s: float = 0.0) -> int:
        """Fetch one batch of the partition, handle it in order, ack it; returns its size."""
        deliveries = await self.broker.fetch(
            topic, self.name, partition, limit=self.config.batch_size, block_s=block_s
        )
        if not deliveries:
            return 0
        await self._handle_batch(deliveries)
        await self.broker.ack(topic, self.name, partition, [d.offset for d in deliveries])
        return len(deliveries)

    async def _serve(self, partition: _Partition) -> None:
        # Idle, the fetch itself waits (block_s) so a publish wakes the partition at once —
        # the broker signals in-process publishes and polls for others — and the wait grows
        # from the first to the second poll interval while nothing arrives.
        idle_s = 0.0
        while not self._stop.is_set() and partition.lease is not None:
            try:
                count = await self.drain(partition.topic, partition.number, block_s=idle_s)
            except Exception as exc:  # a broker outage: back off, keep the partition
                log.warning(
                    "consumer %s failed on %s/%s: %s",
                    self.name,
                    partition.topic,
                    partition.number,
                    exc,
                )
                if not await self._sleep(self.config.poll_interval_s[1]):
                    return
                continue
            if count:
                idle_s = 0.0
            else:
                low, high = self.config.poll_interval_s
                idle_s = min(high, max(low, idle_s * 2))

    # --- the whole subscription ---

    async def _rebalance(self) -> None:
        """Renew held leases, release surplus ones, take free partitions up to ``max_owned``."""
        ttl = self.config.lease_ttl_s
        held = 0
        for partition in self._partitions:
            if partition.lease is None:
                continue
            renewed = await self.leases.renew(partition.lease, ttl)
            if renewed is None or held >= self.max_owned:
                await self._let_go(partition, release=renewed is not None)
                continue
            partition.lease = renewed
            held += 1
        for partition in self._partitions:
            if held >= self.max_owned:
                break
            if partition.lease is not None:
                continue
            name = f"consumer:{self.name}:{partition.topic}:{partition.number}"
            lease = await self.leases.acquire(name, self.holder, ttl)
            if lease is None:
                continue
            partition.lease = lease
            partition.task = asyncio.create_task(
                self._serve(partition),
                name=f"consumer-{self.name}-{partition.topic}-{partition.number}",
            )
            held += 1

    async def _let_go(self, partition: _Partition, *, release: bool) -> None:
        lease, task = partition.lease, partition.task
        partition.lease = None
        partition.task = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if release and lease is not None:
            await self.leases.release(lease)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Own partitions and handle their messages until ``stop`` (or ``close``)."""
        forwarder = asyncio.create_task(self._forward(stop)) if stop is not None else None
        try:
            while not self._stop.is_set():
                try:
                    await self._rebalance()
                except Exception as exc:  # lease store outage: keep serving what we hold
                    log.warning("consumer %s could not renew leases: %s", self.name, exc)
                await self._sleep(self.config.lease_ttl_s / 3)
        finally:
            if forwarder is not None:
                forwarder.cancel()
            for partition in self._partitions:
                if partition.lease is not None:
                    try:
                        await self._let_go(partition, release=True)
                    except Exception as exc:  # expiry frees it anyway
                        log.info("lease not released: %s", exc)

    async def _forward(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep on the clock in short slices; False if the consumer is stopping."""
        remaining = seconds
        while remaining > 0:
            if self._stop.is_set():
                return False
            step = min(remaining, 0.25)
            await self.clock.sleep(step)
            remaining -= step
        return not self._stop.is_set()
