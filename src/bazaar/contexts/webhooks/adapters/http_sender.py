"""``HttpWebhookSender``: the ``WebhookSender`` port over httpx and the SSRF guard's pins.

One attempt is one fresh client on a transport pinned to the addresses the guard approved
moments before (connections are not reused across attempts: the next attempt's check may
approve different addresses). The response body is never read — a receiver cannot make
bazaar download anything — and redirects are not followed (a 3xx is a failed attempt).
``asyncio.timeout`` bounds the whole exchange, not each phase as httpx's timeouts do.

Outcomes, sorted at this boundary: any HTTP answer → its status code; connection refused
or reset, TLS errors, protocol errors and the timeout → ``EndpointUnreachableError``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping

import httpx

from bazaar.contexts.webhooks.domain.errors import EndpointUnreachableError
from bazaar.kernel.ssrf import SafeTarget, pinned_transport

__all__ = ["HttpWebhookSender", "TransportFactory"]

# Builds the transport of one attempt; tests return an ``httpx.MockTransport``.
TransportFactory = Callable[[SafeTarget], httpx.AsyncBaseTransport]


class HttpWebhookSender:
    """POSTs deliveries with httpx; ``transport_factory`` defaults to ``pinned_transport``."""

    def __init__(
        self,
        transport_factory: TransportFactory | None = None,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._verify = verify
        self._factory = transport_factory or self._pinned

    def _pinned(self, target: SafeTarget) -> httpx.AsyncBaseTransport:
        return pinned_transport(target, verify=self._verify)

    async def send(
        self, target: SafeTarget, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> int:
        """See ``WebhookSender.send``."""
        transport = self._factory(target)
        try:
            async with (
                asyncio.timeout(timeout_s),
                httpx.AsyncClient(
                    transport=transport, timeout=timeout_s, follow_redirects=False
                ) as client,
                client.stream("POST", target.url, content=body, headers=dict(headers)) as reply,
            ):
                return reply.status_code
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise EndpointUnreachableError(f"timeout after {timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            raise EndpointUnreachableError(f"{type(exc).__name__}: {exc}".strip()) from exc
