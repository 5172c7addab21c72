"""Background jobs as messages on the ``jobs`` topic (capabilities §6.6).

A job is an envelope of type ``jobs.<name>`` whose id is the job id: enqueueing the same
id twice runs the job once (the consumer's inbox dedupes), which is how cron ticks and
"at most one reminder per order" are expressed. Jobs get the consumer runtime's retries,
backoff and dead letters; each job has its own timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.jobs.errors import UnknownJobError
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Handler, Subscription
from bazaar.kernel.messaging.ports import Broker, Record

__all__ = ["JOBS_CONSUMER", "JOBS_TOPIC", "Job", "JobQueue", "jobs_subscription"]

JOBS_TOPIC = "jobs"
JOBS_CONSUMER = "jobs"

JobFunction = Callable[[Mapping[str, Any]], Awaitable[None]]


class IdSource(Protocol):
    def next_id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Job:
    """A named task: ``run(args)`` with its own timeout (seconds)."""

    name: str
    run: JobFunction
    timeout_s: float = 30.0

    @property
    def type(self) -> str:
        return f"{JOBS_TOPIC}.{self.name}"


def _with_timeout(job: Job) -> Handler:
    async def handle(envelope: Envelope) -> None:
        # A TimeoutError is an ordinary failure to the runtime: retried, then dead-lettered.
        async with asyncio.timeout(job.timeout_s):
            await job.run(envelope.payload)

    return handle


def jobs_subscription(jobs: Sequence[Job]) -> Subscription:
    """The consumer group that runs ``jobs`` (one handler per job type)."""
    return Subscription(
        consumer=JOBS_CONSUMER,
        topics=(JOBS_TOPIC,),
        handlers={job.type: _with_timeout(job) for job in jobs},
    )


class JobQueue:
    """Enqueues jobs straight to the broker (fire-and-forget).

    To enqueue a job atomically with a state change, write its envelope to the outbox in
    that transaction instead (``envelope`` builds it).
    """

    def __init__(
        self, broker: Broker, ids: IdSource, clock: Clock, names: Sequence[str] | None = None
    ) -> None:
        self.broker = broker
        self.ids = ids
        self.clock = clock
        self.names = None if names is None else frozenset(names)

    def envelope(
        self, name: str, args: Mapping[str, Any] | None = None, *, job_id: str | None = None
    ) -> Envelope:
        """The envelope of one job; ``job_id`` dedupes (same id, one run).

        Raises:
            UnknownJobError: ``name`` is not a registered job.
        """
        if self.names is not None and name not in self.names:
            raise UnknownJobError(name)
        message_id = job_id or str(self.ids.next_id())
        return Envelope(
            id=message_id,
            type=f"{JOBS_TOPIC}.{name}",
            version=1,
            key=message_id,
            occurred_at=utc_from_timestamp(self.clock.now()),
            payload=dict(args or {}),
        )

    async def enqueue(
        self, name: str, args: Mapping[str, Any] | None = None, *, job_id: str | None = None
    ) -> str:
        """Publish one job; returns its id."""
        envelope = self.envelope(name, args, job_id=job_id)
        await self.broker.publish(JOBS_TOPIC, [Record(envelope.key, envelope.encode())])
        return envelope.id
