"""The pure-ASGI middleware, each around a tiny echo app (no framework, no database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from bazaar.api.context import current_request_id
from bazaar.api.middleware import (
    BodyLimitMiddleware,
    ContentTypeMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from bazaar.api.middleware._asgi import Receive, Scope, Send


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers with its length and the current request id."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = orjson.dumps({"received": len(body), "request_id": current_request_id()})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("secret internals: /srv/app.py line 3")


def client_for(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def chunks(total: int, size: int = 65_536) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


class TestRequestIdMiddleware:
    async def test_generates_an_id_and_echoes_it(self) -> None:
        async with client_for(RequestIdMiddleware(echo_app)) as client:
            response = await client.get("/")
        request_id = response.headers["x-request-id"]
        assert len(request_id) == 32
        assert response.json()["request_id"] == request_id

    async def test_keeps_a_valid_client_id(self) -> None:
        async with client_for(RequestIdMiddleware(echo_app)) as client:
            response = await client.get("/", headers={"x-request-id": "abc-123:XYZ.9"})
        assert response.headers["x-request-id"] == "abc-123:XYZ.9"

    @pytest.mark.parametrize("bad", ["a" * 129, "has space", 'quote"d', "<script>"])
    async def test_replaces_an_invalid_client_id(self, bad: str) -> None:
        async with client_for(RequestIdMiddleware(echo_app)) as client:
            response = await client.get("/", headers={"x-request-id": bad})
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32


class TestBodyLimitMiddleware:
    async def test_refuses_a_declared_length_over_the_limit_before_reading(self) -> None:
        reads = 0

        async def counting_app(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal reads
            reads += 1
            await echo_app(scope, receive, send)

        app = BodyLimitMiddleware(counting_app, max_bytes=1024)
        async with client_for(app) as client:
            response = await client.post("/", content=b"x" * 2048)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/payload-too-large")
        assert reads == 0

    async def test_cuts_off_a_chunked_body_at_the_limit(self) -> None:
        app = BodyLimitMiddleware(echo_app, max_bytes=100_000)
        async with client_for(app) as client:
            response = await client.post("/", content=chunks(2 * 1024 * 1024))
        assert response.status_code == 413

    async def test_passes_a_body_within_the_limit(self) -> None:
        app = BodyLimitMiddleware(echo_app, max_bytes=1024)
        async with client_for(app) as client:
            response = await client.post("/", content=b"x" * 1024)
        assert response.status_code == 200
        assert response.json()["received"] == 1024

    async def test_refuses_an_unparseable_content_length(self) -> None:
        app = BodyLimitMiddleware(echo_app, max_bytes=1024)
        async with client_for(app) as client:
            response = await client.post("/", content=b"{}", headers={"content-length": "x"})
        assert response.status_code == 400


class TestContentTypeMiddleware:
    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
    )
    async def test_refuses_non_json_bodies_under_the_api(self, content_type: str) -> None:
        async with client_for(ContentTypeMiddleware(echo_app)) as client:
            response = await client.post(
                "/api/v1/x", content=b"a=1", headers={"content-type": content_type}
            )
        assert response.status_code == 415
        assert response.json()["type"].endswith("/unsupported-media-type")

    @pytest.mark.parametrize(
        "content_type",
        ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
    )
    async def test_accepts_json_media_types(self, content_type: str) -> None:
        async with client_for(ContentTypeMiddleware(echo_app)) as client:
            response = await client.post(
                "/api/v1/x", content=b"{}", headers={"content-type": content_type}
            )
        assert response.status_code == 200

    async def test_ignores_requests_without_a_body(self) -> None:
        async with client_for(ContentTypeMiddleware(echo_app)) as client:
            response = await client.post("/api/v1/x")
        assert response.status_code == 200


class TestSecurityHeadersMiddleware:
    async def test_sets_the_fixed_headers_on_every_response(self) -> None:
        async with client_for(SecurityHeadersMiddleware(echo_app)) as client:
            response = await client.get("/")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers
        assert "cache-control" not in response.headers

    async def test_marks_authenticated_answers_no_store(self) -> None:
        async with client_for(SecurityHeadersMiddleware(echo_app)) as client:
            response = await client.get("/", headers={"authorization": "Bearer x"})
        assert response.headers["cache-control"] == "no-store"

    async def test_sends_hsts_only_behind_tls(self) -> None:
        app = SecurityHeadersMiddleware(echo_app, trust_forwarded_proto=True)
        async with client_for(app) as client:
            response = await client.get("/", headers={"x-forwarded-proto": "https"})
        assert response.headers["strict-transport-security"].startswith("max-age=")


class TestUnhandledErrorMiddleware:
    async def test_answers_500_problem_without_the_trace(self) -> None:
        app = RequestIdMiddleware(UnhandledErrorMiddleware(failing_app))
        async with client_for(app) as client:
            response = await client.get("/boom")
        assert response.status_code == 500
        body = response.json()
        assert body["type"].endswith("/internal")
        assert body["request_id"] == response.headers["x-request-id"]
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text
