"""Signed webhook delivery: fire-and-forget background tasks with retries and backoff."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bazaar.kernel.clock import Clock
from bazaar.psp.signing import SIGNATURE_HEADER, sign

__all__ = ["DeliveryAttempt", "WebhookEvent", "WebhookSender"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event; its id stays the same across delivery attempts so receivers can dedupe."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]

    def body(self) -> bytes:
        return orjson.dumps(
            {"id": self.id, "type": self.type, "created_at": self.created_at, "data": self.data}
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST of one event: the status code answered, or the transport error's name."""

    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(slots=True)
class _Counts:
    delivered: int = 0
    gave_up: int = 0
    attempts: list[DeliveryAttempt] = field(default_factory=list)


class WebhookSender:
    """Delivers events to one URL in background tasks; never blocks or fails the caller.

    Each event is retried on a transport error or a non-2xx answer, up to ``max_attempts``,
    waiting ``backoff_s``, then twice as long after each failure (through the injected
    clock, so tests do not wait). Every attempt is signed afresh: the ``t`` of the signature
    is the attempt's time, which keeps late retries inside the receiver's tolerance. Events
    are delivered independently, so they may arrive out of order (as with real processors);
    receivers order by the object's state, not by arrival.

    ``attempts`` keeps every attempt made (a shipped fake's inspectable state).
    """

    def __init__(
        self,
        url: str | None,
        secret: str,
        clock: Clock,
        *,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._clock = clock
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._counts = _Counts()

    @property
    def attempts(self) -> list[DeliveryAttempt]:
        return list(self._counts.attempts)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def stats(self) -> dict[str, object]:
        return {
            "url_configured": self.url is not None,
            "delivered": self._counts.delivered,
            "gave_up": self._counts.gave_up,
            "attempts": len(self._counts.attempts),
            "pending": self.pending,
        }

    async def start(self) -> None:
        if self.url is not None and self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=self._timeout_s,
                headers={"user-agent": "bazaar-psp-simulator"},
                follow_redirects=False,
            )

    def send(self, event: WebhookEvent) -> None:
        """Schedule delivery of ``event`` and return at once."""
        if self.url is None:
            return
        if self._client is None:
            logger.warning("psp webhook %s dropped: sender not started", event.id)
            return
        task = asyncio.create_task(self._deliver(self._client, self.url, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished (delivered or given up)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Give pending deliveries ``grace_s`` (real seconds) to finish, cancel the rest."""
        if self._tasks and grace_s > 0:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _deliver(self, client: httpx.AsyncClient, url: str, event: WebhookEvent) -> None:
        body = event.body()
        delay = self._backoff_s
        for attempt in range(1, self._max_attempts + 1):
            timestamp = int(self._clock.now())
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: sign(self._secret, body, timestamp),
            }
            try:
                response = await client.post(url, content=body, headers=headers)
                result = DeliveryAttempt(event.id, event.type, attempt, response.status_code)
            except Exception as exc:  # any failure of one attempt is retried, never raised
                result = DeliveryAttempt(event.id, event.type, attempt, None, type(exc).__name__)
            self._counts.attempts.append(result)
            if result.ok:
                self._counts.delivered += 1
                return
            if attempt < self._max_attempts:
                await self._clock.sleep(delay)
                delay *= 2
        self._counts.gave_up += 1
        logger.warning(
            "psp webhook %s (%s) not delivered after %d attempts",
            event.id,
            event.type,
            self._max_attempts,
        )
