"""``HttpWebhookSender``: one POST, its status code, and every failure as unreachable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

import httpx
import pytest

from bazaar.contexts.webhooks import EndpointUnreachableError
from bazaar.contexts.webhooks.adapters import HttpWebhookSender
from bazaar.kernel.ssrf import SafeTarget

TARGET = SafeTarget(
    url="https://hooks.example/bazaar",
    scheme="https",
    host="hooks.example",
    port=443,
    addresses=(ip_address("93.184.215.14"),),
)
HEADERS = {"Content-Type": "application/json", "Bazaar-Event-Id": "1"}


def sender_of(
    handler: Callable[[httpx.Request], Any],
) -> tuple[HttpWebhookSender, list[SafeTarget]]:
    built: list[SafeTarget] = []

    def factory(target: SafeTarget) -> httpx.AsyncBaseTransport:
        built.append(target)
        return httpx.MockTransport(handler)

    return HttpWebhookSender(factory), built


class TestHttpWebhookSender:
    async def test_posts_the_body_and_headers_to_the_target(self) -> None:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204)

        sender, built = sender_of(handler)
        assert await sender.send(TARGET, b'{"a":1}', HEADERS, timeout_s=5) == 204
        assert built == [TARGET]
        (request,) = seen
        assert (request.method, str(request.url)) == ("POST", TARGET.url)
        assert request.content == b'{"a":1}'
        assert request.headers["bazaar-event-id"] == "1"

    @pytest.mark.parametrize("status", [200, 201, 302, 404, 500, 503])
    async def test_answers_any_status_and_never_follows_redirects(self, status: int) -> None:
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            return httpx.Response(status, headers={"location": "http://169.254.169.254/"})

        sender, _ = sender_of(handler)
        assert await sender.send(TARGET, b"{}", HEADERS, timeout_s=5) == status
        assert calls == 1

    @pytest.mark.parametrize(
        "error",
        [
            httpx.ConnectError("refused"),
            httpx.ConnectTimeout("slow"),
            httpx.ReadError("reset"),
            httpx.RemoteProtocolError("garbage"),
        ],
    )
    async def test_transport_failures_are_unreachable(self, error: Exception) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise error

        sender, _ = sender_of(handler)
        with pytest.raises(EndpointUnreachableError):
            await sender.send(TARGET, b"{}", HEADERS, timeout_s=5)

    async def test_the_timeout_bounds_the_whole_exchange(self) -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            await asyncio.Event().wait()  # never answers
            raise AssertionError

        sender, _ = sender_of(handler)
        with pytest.raises(EndpointUnreachableError, match="timeout"):
            await sender.send(TARGET, b"{}", HEADERS, timeout_s=0.01)
