"""Ports of the webhooks application: how a delivery is sent, where ids come from, URL checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bazaar.kernel.ssrf import Resolver, SafeTarget, SsrfPolicy, check_url

__all__ = ["IdGenerator", "UrlGuard", "WebhookSender"]


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class WebhookSender(Protocol):
    """POSTs one delivery attempt to a checked target (one attempt; the dispatcher retries).

    Adapters: ``adapters.http_sender.HttpWebhookSender`` (httpx over the SSRF guard's
    pinned transport; tests give it an ``httpx.MockTransport``).
    """

    async def send(
        self, target: SafeTarget, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> int:
        """POST ``body`` to ``target.url``, connecting only to its pinned addresses.

        Returns:
            The response's status code, whatever it is (redirects are not followed).

        Raises:
            EndpointUnreachableError: no answer within ``timeout_s`` (connection refused or
                reset, TLS failure, timeout).
            UnsafeUrlError: the request would have left the pinned origin.
        """
        ...


class UrlGuard:
    """The SSRF guard with one policy, for registration and again before every attempt.

    Checking again at send time matters: a name that resolved to a public address at
    registration may resolve to 169.254.169.254 today (DNS rebinding), and the pinned
    transport then connects only to what this check approved.
    """

    def __init__(self, policy: SsrfPolicy | None = None, resolver: Resolver | None = None) -> None:
        self.policy = policy if policy is not None else SsrfPolicy()
        self.resolver = resolver

    async def check(self, url: str) -> SafeTarget:
        """Raises: UnsafeUrlError (``reason`` says why)."""
        return await check_url(url, resolver=self.resolver, policy=self.policy)
