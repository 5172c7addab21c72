"""The webhook dispatcher: sends due deliveries, signed, and records every attempt (§6.7).

One dispatcher is active per deployment: it holds the ``webhook-dispatcher`` lease (renewed
a few times per TTL, as the outbox relay does) and, while it leads, loops:

1. claim up to ``batch_size`` due deliveries of active endpoints in one short transaction
   (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), pushing their ``next_attempt_at`` out by
   ``claim_s`` so nobody else takes them while they are in flight;
2. send them concurrently, at most ``max_concurrent`` at once (a bulkhead on the sockets
   this process opens to receivers; a round lasts as long as its slowest attempt, at most
   ``timeout_s`` plus the DNS check). Each attempt checks the URL with the SSRF guard
   again (DNS may have changed since registration) and POSTs through the guard's pinned
   transport, with a ``timeout_s`` deadline for the whole exchange. Headers::

       Content-Type: application/json
       Bazaar-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>
       Bazaar-Event-Id / Bazaar-Event-Type / Bazaar-Delivery-Id / Bazaar-Delivery-Attempt

3. record each outcome in its own short transaction: a 2xx succeeds the delivery and ends
   the endpoint's failure streak; anything else (another status, no answer, a URL the
   guard now refuses) is a failed attempt — retried on ``RetrySchedule`` or abandoned — and
   one more failure of the endpoint, which ``DisablePolicy`` may disable.

No transaction stays open across an HTTP call (on SQLite that would block every writer).
The lease decides who polls; the claim protects what is in flight: a round that outlives
the lease (slow receivers) cannot be sent twice by the next leader, whose claim skips it.
Delivery is at least once: a crash between the POST and its record sends it again after
``claim_s``; receivers dedupe on ``Bazaar-Event-Id`` (the same for every attempt).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bazaar.contexts.webhooks.application.ports import UrlGuard, WebhookSender
from bazaar.contexts.webhooks.application.unit_of_work import (
    DueDelivery,
    EndpointStreak,
    WebhooksUnitOfWork,
)
from bazaar.contexts.webhooks.domain.errors import EndpointUnreachableError
from bazaar.contexts.webhooks.domain.model import DeliveryAttempt, DeliveryStatus, EndpointStatus
from bazaar.contexts.webhooks.domain.policy import DisablePolicy, NextStep, RetrySchedule
from bazaar.contexts.webhooks.domain.signing import SIGNATURE_HEADER, sign
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.locks.ports import Lease, LeaseStore
from bazaar.kernel.retry.ports import RandomSource
from bazaar.kernel.ssrf import UnsafeUrlError

__all__ = ["DISPATCHER_LEASE", "DispatcherConfig", "WebhookDispatcher"]

log = logging.getLogger(__name__)

DISPATCHER_LEASE = "webhook-dispatcher"
_MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """How the dispatcher paces itself.

    Attributes:
        batch_size: deliveries claimed per round.
        max_concurrent: attempts in flight at once.
        timeout_s: the deadline of one attempt (connect, send, status line).
        claim_s: how long a claimed delivery is held; must exceed a round's duration.
        poll_interval_s: the wait when nothing was due.
        lease_ttl_s: the dispatcher lease's duration (a dead leader blocks this long).
        error_backoff_s: the wait after the database failed.
        schedule: the retry schedule.
        disable: the auto-disable rule.
        user_agent: sent with every attempt.
    """

    batch_size: int = 16
    max_concurrent: int = 16
    timeout_s: float = 10.0
    claim_s: float = 60.0
    poll_interval_s: float = 0.5
    lease_ttl_s: float = 10.0
    error_backoff_s: float = 1.0
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable: DisablePolicy = field(default_factory=DisablePolicy)
    user_agent: str = "bazaar-webhooks/1"


class WebhookDispatcher:
    """Sends due deliveries while holding the dispatcher lease; ``run`` until ``stop``."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], WebhooksUnitOfWork],
        sender: WebhookSender,
        guard: UrlGuard,
        clock: Clock,
        leases: LeaseStore,
        holder: str,
        config: DispatcherConfig | None = None,
        rng: RandomSource | None = None,
    ) -> None:
        """Args:
        unit_of_work: a fresh unit of work per claim and per recorded attempt.
        sender: one POST per attempt.
        guard: the SSRF guard, asked again before every attempt.
        clock: timestamps, signatures and schedules (a ``ManualClock`` in tests).
        leases: where the ``webhook-dispatcher`` lease lives.
        holder: this process's name in leases.
        config: pacing, schedule and disable rule.
        rng: the schedule's jitter (a seeded ``random.Random`` in tests).
        """
        self.unit_of_work = unit_of_work
        self.sender = sender
        self.guard = guard
        self.clock = clock
        self.leases = leases
        self.holder = holder
        self.config = config or DispatcherConfig()
        self.rng: RandomSource = rng if rng is not None else random.Random()
        self._slots = asyncio.Semaphore(self.config.max_concurrent)
        self._lease: Lease | None = None
        self._lease_checked_at = float("-inf")

    @property
    def leading(self) -> bool:
        return self._lease is not None

    async def _hold_lease(self) -> bool:
        now = self.clock.monotonic()
        # Acquire (or renew: acquiring again as the same holder renews) a few times per TTL.
        if now - self._lease_checked_at >= self.config.lease_ttl_s / 3:
            self._lease_checked_at = now
            self._lease = await self.leases.acquire(
                DISPATCHER_LEASE, self.holder, self.config.lease_ttl_s
            )
        return self._lease is not None

    async def run_once(self) -> int:
        """One round if this dispatcher leads: claim, send, record; returns the deliveries sent."""
        if not await self._hold_lease():
            return 0
        now = utc_from_timestamp(self.clock.now())
        uow = self.unit_of_work()
        async with uow:
            due = await uow.deliveries.claim_due(
                now, now + timedelta(seconds=self.config.claim_s), self.config.batch_size
            )
            await uow.commit()
        if due:
            await asyncio.gather(*(self._bounded(delivery) for delivery in due))
        return len(due)

    async def _bounded(self, delivery: DueDelivery) -> None:
        async with self._slots:
            try:
                await self.dispatch(delivery)
            except Exception as exc:  # recording failed (database down): due again after claim_s
                log.warning("webhook delivery %s not recorded: %s", delivery.id, exc)

    async def dispatch(self, delivery: DueDelivery) -> DeliveryAttempt:
        """Attempt one claimed delivery and record the outcome; returns the attempt."""
        attempt = await self._attempt(delivery)
        step = self.config.schedule.after_attempt(
            attempt.number, succeeded=attempt.succeeded, now=attempt.at, rng=self.rng
        )
        await self._record(delivery, attempt, step)
        return attempt

    async def _attempt(self, delivery: DueDelivery) -> DeliveryAttempt:
        number = delivery.attempts + 1
        sent_at = self.clock.now()
        started = self.clock.monotonic()
        timestamp = int(sent_at)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.config.user_agent,
            SIGNATURE_HEADER: sign(delivery.secret, timestamp, delivery.payload),
            "Bazaar-Event-Id": delivery.event_id,
            "Bazaar-Event-Type": delivery.event_type,
            "Bazaar-Delivery-Id": str(delivery.id),
            "Bazaar-Delivery-Attempt": str(number),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            target = await self.guard.check(delivery.url)
            status_code = await self.sender.send(
                target, delivery.payload, headers, timeout_s=self.config.timeout_s
            )
        except UnsafeUrlError as exc:
            error = f"refused by the SSRF guard ({exc.reason})"
        except EndpointUnreachableError as exc:
            error = exc.reason
        except Exception as exc:  # a sender bug must not leave the delivery unrecorded forever
            log.warning("webhook delivery %s: unexpected send error", delivery.id, exc_info=exc)
            error = f"{type(exc).__name__}: {exc}"
        if status_code is not None and not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
        elapsed_ms = round(max(0.0, self.clock.monotonic() - started) * 1000)
        return DeliveryAttempt(
            number=number,
            at=utc_from_timestamp(sent_at),
            duration_ms=elapsed_ms,
            status_code=status_code,
            error=None if error is None else error[:_MAX_ERROR],
        )

    async def _record(
        self, delivery: DueDelivery, attempt: DeliveryAttempt, step: NextStep
    ) -> None:
        # The endpoint row first, then the delivery: the order ``delete`` locks them in, so
        # the two never deadlock on PostgreSQL.
        uow = self.unit_of_work()
        async with uow:
            if step.status is DeliveryStatus.SUCCEEDED:
                await uow.endpoints.record_success(delivery.endpoint_id)
            else:
                streak = await uow.endpoints.record_failure(delivery.endpoint_id, attempt.at)
                if streak is None:
                    return  # the endpoint was deleted while the attempt was in flight
                if streak.status is EndpointStatus.ACTIVE:
                    streak = await self._apply_disable_rule(
                        uow, delivery.endpoint_id, streak, attempt.at
                    )
                if streak.status is EndpointStatus.DISABLED:
                    # Nothing is scheduled for a disabled endpoint; ``enable`` reschedules.
                    step = replace(step, next_attempt_at=None)
            if not await uow.deliveries.record_attempt(delivery.id, attempt, step):
                return  # deleted with its endpoint meanwhile
            await uow.commit()

    async def _apply_disable_rule(
        self, uow: WebhooksUnitOfWork, endpoint_id: int, streak: EndpointStreak, at: datetime
    ) -> EndpointStreak:
        policy, since = self.config.disable, streak.failing_since
        if since is None or not policy.should_disable(streak.consecutive_failures, since, at):
            return streak
        reason = policy.reason(streak.consecutive_failures, since)
        if await uow.endpoints.disable(endpoint_id, reason, at):
            log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        return replace(streak, status=EndpointStatus.DISABLED)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set; a failing database is retried, never fatal."""
        try:
            while not stop.is_set():
                try:
                    sent = await self.run_once()
                except Exception as exc:  # the dispatcher must outlive any outage
                    log.warning("webhook dispatcher failed: %s", exc, exc_info=exc)
                    self._lease_checked_at = float("-inf")
                    await self._idle(stop, self.config.error_backoff_s)
                    continue
                if sent < self.config.batch_size:
                    await self._idle(stop, self.config.poll_interval_s)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give the dispatcher lease up (if held), so another process may lead at once."""
        if self._lease is None:
            return
        lease, self._lease = self._lease, None
        self._lease_checked_at = float("-inf")
        try:
            await self.leases.release(lease)
        except Exception as exc:  # expiry releases it anyway
            log.info("dispatcher lease not released: %s", exc)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        waiter = asyncio.ensure_future(stop.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait([waiter, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
