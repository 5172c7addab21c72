"""Deprecated routes' headers (RFC 9745, RFC 8594, RFC 8288) and the v1 → v2 catalog table."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bazaar.api.middleware import Deprecation, DeprecationMiddleware
from bazaar.api.middleware._asgi import Message, Receive, Scope, Send
from bazaar.api.routers import DEPRECATED_ROUTES
from bazaar.contexts.catalog.api.routes_v2 import (
    SUPERSEDED_ROUTES,
    V1_PRODUCTS_DEPRECATED_AT,
    V1_PRODUCTS_SUNSET_AT,
)

ROOT = Path(__file__).resolve().parents[3]
DEPRECATED_AT = datetime(2026, 12, 1, tzinfo=UTC)
SUNSET_AT = datetime(2027, 12, 1, tzinfo=UTC)
ITEM = Deprecation(DEPRECATED_AT, SUNSET_AT, "/api/v2/products/{product_id}")


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"link", b'</next>; rel="next"')]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def run(route_path: str | None, path_params: dict[str, Any]) -> dict[bytes, list[bytes]]:
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    if route_path is not None:
        scope["route"] = SimpleNamespace(path=route_path)
        scope["path_params"] = path_params
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = DeprecationMiddleware(answer, {"/api/v1/products/{product_id}": ITEM})
    await middleware(scope, receive, send)
    headers: dict[bytes, list[bytes]] = {}
    for name, value in sent[0]["headers"]:
        headers.setdefault(name, []).append(value)
    return headers


class TestDeprecation:
    def test_headers_follow_the_rfcs(self) -> None:
        headers = dict(ITEM.headers({"product_id": "42"}))
        assert headers[b"deprecation"] == b"@1796083200"
        assert datetime.fromtimestamp(1796083200, UTC) == DEPRECATED_AT
        assert headers[b"sunset"] == b"Wed, 01 Dec 2027 00:00:00 GMT"
        assert parsedate_to_datetime(headers[b"sunset"].decode()) == SUNSET_AT
        assert headers[b"link"] == b'</api/v2/products/42>; rel="successor-version"'

    def test_path_parameters_cannot_break_out_of_the_link(self) -> None:
        headers = dict(ITEM.headers({"product_id": 'x>; rel="evil"\r\nSet-Cookie: a=b'}))
        link = headers[b"link"]
        assert b"\r" not in link
        assert b"\n" not in link
        assert link.count(b">") == 1
        assert link.endswith(b'>; rel="successor-version"')

    def test_refuses_naive_dates_and_a_sunset_before_the_deprecation(self) -> None:
        with pytest.raises(ValueError, match="time zone"):
            Deprecation(datetime(2026, 12, 1), SUNSET_AT, "/v2")
        with pytest.raises(ValueError, match="after"):
            Deprecation(SUNSET_AT, DEPRECATED_AT, "/v2")


class TestDeprecationMiddleware:
    async def test_marks_the_answers_of_a_deprecated_route(self) -> None:
        headers = await run("/api/v1/products/{product_id}", {"product_id": "7"})
        assert headers[b"deprecation"] == [b"@1796083200"]
        assert headers[b"sunset"] == [b"Wed, 01 Dec 2027 00:00:00 GMT"]
        # Added beside the route's own links, not over them.
        assert headers[b"link"] == [
            b'</next>; rel="next"',
            b'</api/v2/products/7>; rel="successor-version"',
        ]

    @pytest.mark.parametrize("route_path", [None, "/api/v1/products/{product_id}/stock"])
    async def test_leaves_other_answers_alone(self, route_path: str | None) -> None:
        headers = await run(route_path, {"product_id": "7"})
        assert b"deprecation" not in headers
        assert b"sunset" not in headers
        assert headers[b"link"] == [b'</next>; rel="next"']


class TestCatalogDeprecations:
    def test_v1_products_are_deprecated_on_1_december_2026_and_go_a_year_later(self) -> None:
        assert V1_PRODUCTS_DEPRECATED_AT == DEPRECATED_AT
        assert V1_PRODUCTS_SUNSET_AT == SUNSET_AT
        assert {path: d.successor for path, d in SUPERSEDED_ROUTES.items()} == {
            "/api/v1/products": "/api/v2/products",
            "/api/v1/products/{product_id}": "/api/v2/products/{product_id}",
        }
        assert DEPRECATED_ROUTES.items() >= SUPERSEDED_ROUTES.items()

    def test_the_migration_guide_states_the_dates_the_server_sends(self) -> None:
        guide = (ROOT / "docs" / "api-versioning.md").read_text(encoding="utf-8")
        for deprecation in SUPERSEDED_ROUTES.values():
            for name, value in deprecation.headers({"product_id": "{id}"}):
                if name != b"link":
                    assert f"{name.decode().title()}: {value.decode()}" in guide
