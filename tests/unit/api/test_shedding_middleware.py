"""Tests for LoadSheddingMiddleware, driven with hand-written ASGI receive/send callables."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from bazaar.api.middleware._asgi import Message, Receive, Scope, Send
from bazaar.api.middleware.request_id import RequestIdMiddleware
from bazaar.api.middleware.shedding import DEFAULT_CRITICAL_PATHS, LoadSheddingMiddleware
from bazaar.kernel.shedding import (
    AdmissionController,
    Priority,
    RecordingListener,
    RequestShed,
    ShedReason,
)


def http_scope(method: str = "GET", path: str = "/api/v1/products") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}


class Exchange:
    """One request's receive and send: an empty body in, every sent message recorded."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.receive_calls = 0

    async def receive(self) -> Message:
        self.receive_calls += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def json(self) -> Any:
        return orjson.loads(self.sent[1]["body"])


class GatedApp:
    """An app that answers 200 only when its gate opens, so requests can be held in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def hold(middleware: LoadSheddingMiddleware, n: int, scope: Scope | None = None) -> list[Any]:
    """Start ``n`` requests that stay in flight until the app's gate opens."""
    tasks = []
    for _ in range(n):
        exchange = Exchange()
        request = middleware(scope or http_scope(), exchange.receive, exchange.send)
        tasks.append(asyncio.create_task(request))
    return tasks


class TestLoadSheddingMiddleware:
    async def test_admits_under_the_bound_and_releases_after(self) -> None:
        controller = AdmissionController(2)
        exchange = Exchange()
        await LoadSheddingMiddleware(ok_app, controller)(
            http_scope(), exchange.receive, exchange.send
        )
        assert exchange.status == 200
        assert controller.in_flight == 0

    async def test_over_the_bound_answers_503_overloaded_with_retry_after(self) -> None:
        app = GatedApp()
        controller = AdmissionController(2)
        middleware = LoadSheddingMiddleware(app, controller)
        held = hold(middleware, 2)
        await settle()
        exchange = Exchange()
        await middleware(http_scope(path="/api/v1/orders"), exchange.receive, exchange.send)
        assert exchange.status == 503
        assert exchange.headers[b"retry-after"] == b"1"
        assert exchange.headers[b"content-type"] == b"application/problem+json"
        body = exchange.json
        assert body["type"] == "https://bazaar.dev/problems/overloaded"
        assert (body["status"], body["instance"]) == (503, "/api/v1/orders")
        assert app.calls == 2  # the shed request never reached the app...
        assert exchange.receive_calls == 0  # ...nor read its body
        app.gate.set()
        await asyncio.gather(*held)
        assert controller.in_flight == 0

    async def test_a_slot_freed_by_a_finished_request_admits_the_next(self) -> None:
        app = GatedApp()
        controller = AdmissionController(1, critical_reserve=0)
        middleware = LoadSheddingMiddleware(app, controller)
        held = hold(middleware, 1)
        await settle()
        app.gate.set()
        await asyncio.gather(*held)
        exchange = Exchange()
        await middleware(http_scope(), exchange.receive, exchange.send)
        assert exchange.status == 200

    @pytest.mark.parametrize(("method", "path"), DEFAULT_CRITICAL_PATHS)
    async def test_health_checks_and_payment_webhooks_use_the_reserve(
        self, method: str, path: str
    ) -> None:
        app = GatedApp()
        controller = AdmissionController(2)
        middleware = LoadSheddingMiddleware(app, controller)
        held = hold(middleware, 2)
        await settle()
        critical = hold(middleware, 1, http_scope(method, path))
        await settle()
        assert controller.in_flight == 3
        app.gate.set()
        await asyncio.gather(*held, *critical)

    async def test_only_the_exact_method_and_path_are_critical(self) -> None:
        app = GatedApp()
        middleware = LoadSheddingMiddleware(app, AdmissionController(1))
        held = hold(middleware, 1)
        await settle()
        exchange = Exchange()
        await middleware(http_scope("GET", "/api/v1/webhooks/psp"), exchange.receive, exchange.send)
        assert exchange.status == 503
        app.gate.set()
        await asyncio.gather(*held)

    async def test_reports_each_shed_request_with_its_reason(self) -> None:
        listener = RecordingListener()
        app = GatedApp()
        controller = AdmissionController(1, critical_reserve=1, listener=listener)
        middleware = LoadSheddingMiddleware(app, controller)
        held = hold(middleware, 1) + hold(middleware, 1, http_scope("GET", "/healthz"))
        await settle()
        await middleware(http_scope(), Exchange().receive, Exchange().send)
        await middleware(http_scope("GET", "/readyz"), Exchange().receive, Exchange().send)
        assert listener.events == [
            RequestShed(ShedReason.IN_FLIGHT_LIMIT, 2, Priority.NORMAL),
            RequestShed(ShedReason.CRITICAL_RESERVE_EXHAUSTED, 2, Priority.CRITICAL),
        ]
        app.gate.set()
        await asyncio.gather(*held)

    async def test_retry_after_is_configurable(self) -> None:
        middleware = LoadSheddingMiddleware(
            ok_app, AdmissionController(1, critical_reserve=0), retry_after_s=5
        )
        middleware.controller.try_admit()
        exchange = Exchange()
        await middleware(http_scope(), exchange.receive, exchange.send)
        assert exchange.headers[b"retry-after"] == b"5"
        assert "5 s" in exchange.json["detail"]

    async def test_releases_when_the_app_raises(self) -> None:
        async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
            raise RuntimeError("boom")

        controller = AdmissionController(1)
        with pytest.raises(RuntimeError):
            await LoadSheddingMiddleware(failing_app, controller)(
                http_scope(), Exchange().receive, Exchange().send
            )
        assert controller.in_flight == 0

    async def test_releases_when_the_request_is_cancelled(self) -> None:
        app = GatedApp()
        controller = AdmissionController(1)
        (task,) = hold(LoadSheddingMiddleware(app, controller), 1)
        await settle()
        assert controller.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert controller.in_flight == 0

    async def test_the_problem_carries_the_request_id(self) -> None:
        controller = AdmissionController(1, critical_reserve=0)
        controller.try_admit()
        app = RequestIdMiddleware(LoadSheddingMiddleware(ok_app, controller))
        exchange = Exchange()
        scope = http_scope()
        scope["headers"] = [(b"x-request-id", b"shed-me-1")]
        await app(scope, exchange.receive, exchange.send)
        assert exchange.json["request_id"] == "shed-me-1"
        assert exchange.headers[b"x-request-id"] == b"shed-me-1"

    async def test_non_http_scopes_pass_through_even_when_full(self) -> None:
        seen: list[str] = []

        async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])

        controller = AdmissionController(1, critical_reserve=0)
        controller.try_admit()
        await LoadSheddingMiddleware(lifespan_app, controller)(
            {"type": "lifespan"}, Exchange().receive, Exchange().send
        )
        assert seen == ["lifespan"]
        assert controller.in_flight == 1

    def test_refuses_a_negative_retry_after(self) -> None:
        with pytest.raises(ValueError, match="retry_after_s"):
            LoadSheddingMiddleware(ok_app, AdmissionController(1), retry_after_s=-1)
