"""Tests for DeadlineMiddleware, driven with hand-written ASGI receive/send callables.

httpx's ASGITransport cannot disconnect mid-request, so a ``Connection`` plays the server:
``receive()`` hands out queued messages in order and ``disconnect()`` queues the client's
departure. Clocks are ManualClocks, and the disconnect watch starts at once unless a test is
about its delay. The few tests that need the event loop's timer to fire by itself use 1 ms
and an app that never answers, so their outcome does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from bazaar.api.middleware._asgi import Message, Receive, Scope, Send
from bazaar.api.middleware.deadline import (
    REQUEST_TIMEOUT_FIELD,
    DeadlineMiddleware,
    parse_request_timeout,
)
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.deadline import (
    ClientDisconnected,
    DeadlineExceeded,
    DeadlineExceededError,
    RecordingListener,
    current_deadline,
    deadline_scope,
    remaining_s,
    timeout_for,
)

App = Callable[[Scope, Receive, Send], Awaitable[None]]
EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}


def http_scope(
    method: str = "GET",
    path: str = "/api/v1/products",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "query_string": b"",
    }


def post_scope(length: int) -> Scope:
    return http_scope("POST", "/api/v1/orders", [(b"content-length", str(length).encode())])


class Connection:
    """The server's side of one request: queued messages in, every sent message recorded."""

    def __init__(self, *messages: Message) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        for message in messages:
            self.inbox.put_nowait(message)
        self.handed_out: list[Message] = []
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        message = await self.inbox.get()
        self.handed_out.append(message)
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def disconnect(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def json(self) -> Any:
        return orjson.loads(self.sent[1]["body"])


async def respond(send: Send, status: int = 200, body: bytes = b"ok") -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


class Hang:
    """An app that never answers; records whether it was cancelled."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cancelled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def middleware(
    app: App,
    clock: ManualClock | None = None,
    listener: RecordingListener | None = None,
    default_timeout_s: float = 10.0,
    watch_delay_s: float = 0.0,
) -> DeadlineMiddleware:
    """The middleware under test; by default it watches for disconnects at once."""
    return DeadlineMiddleware(
        app,
        default_timeout_s=default_timeout_s,
        clock=clock or ManualClock(),
        listener=listener,
        disconnect_watch_delay_s=watch_delay_s,
    )


class TestParseRequestTimeout:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(b"2", 2.0), (b"0.25", 0.25), (b".5", 0.5), (b"3.", 3.0), (b" 1.5 ", 1.5)],
    )
    def test_reads_positive_decimal_seconds(self, raw: bytes, expected: float) -> None:
        assert parse_request_timeout(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"abc",
            b"0",
            b"0.000",
            b"-1",
            b"+1",
            b"1e3",
            b"inf",
            b"nan",
            b"1_0",
            b"1 2",
            b"9" * 40,
        ],
    )
    def test_refuses_anything_else(self, raw: bytes) -> None:
        assert parse_request_timeout(raw) is None


class TestDeadlineBudget:
    async def test_the_app_runs_under_the_default_deadline(self) -> None:
        seen: dict[str, float | None] = {}

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen["remaining"] = remaining_s()
            seen["psp_timeout"] = timeout_for(2.0)
            await respond(send)

        connection = Connection(EMPTY_BODY)
        await middleware(app)(http_scope(), connection.receive, connection.send)
        assert seen == {"remaining": 10.0, "psp_timeout": 2.0}
        assert connection.status == 200
        assert current_deadline() is None  # restored once the request is over

    async def test_x_request_timeout_lowers_the_budget(self) -> None:
        seen: list[float | None] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(remaining_s())
            await respond(send)

        connection = Connection(EMPTY_BODY)
        scope = http_scope(headers=[(b"x-request-timeout", b"2.5")])
        await middleware(app)(scope, connection.receive, connection.send)
        assert seen == [2.5]

    async def test_x_request_timeout_cannot_raise_the_budget(self) -> None:
        seen: list[float | None] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(remaining_s())
            await respond(send)

        connection = Connection(EMPTY_BODY)
        scope = http_scope(headers=[(b"x-request-timeout", b"600")])
        await middleware(app)(scope, connection.receive, connection.send)
        assert seen == [10.0]

    @pytest.mark.parametrize("raw", [b"soon", b"0", b"-2", b"inf", b"1e2"])
    async def test_an_invalid_x_request_timeout_is_a_422_naming_the_header(
        self, raw: bytes
    ) -> None:
        app = Hang()
        connection = Connection(EMPTY_BODY)
        scope = http_scope(headers=[(b"x-request-timeout", raw)])
        await middleware(app)(scope, connection.receive, connection.send)
        assert connection.status == 422
        body = connection.json
        assert body["type"] == "https://bazaar.dev/problems/validation"
        assert "X-Request-Timeout" in body["detail"]
        assert [e["field"] for e in body["errors"]] == [REQUEST_TIMEOUT_FIELD]
        assert not app.entered.is_set()

    async def test_an_enclosing_shorter_deadline_is_kept(self) -> None:
        clock = ManualClock()
        seen: list[float | None] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(remaining_s())
            await respond(send)

        connection = Connection(EMPTY_BODY)
        with deadline_scope(3.0, clock):
            await middleware(app, clock)(http_scope(), connection.receive, connection.send)
        assert seen == [3.0]

    def test_refuses_a_default_that_is_not_positive(self) -> None:
        with pytest.raises(ValueError, match="default_timeout_s"):
            middleware(Hang(), default_timeout_s=0.0)

    def test_refuses_a_negative_watch_delay(self) -> None:
        with pytest.raises(ValueError, match="disconnect_watch_delay_s"):
            middleware(Hang(), watch_delay_s=-1.0)

    async def test_non_http_scopes_pass_through(self) -> None:
        seen: list[object] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append((scope["type"], current_deadline()))

        await middleware(app)({"type": "lifespan"}, Connection().receive, Connection().send)
        assert seen == [("lifespan", None)]


class TestDeadlineEnforcement:
    async def test_a_spent_budget_cancels_the_app_and_answers_504(self) -> None:
        clock, listener, app = ManualClock(), RecordingListener(), Hang()
        connection = Connection(EMPTY_BODY)
        with deadline_scope(1.0, clock):
            clock.advance(1.0)  # nothing left: the timer fires on the loop's next turn
            await middleware(app, clock, listener)(
                http_scope(path="/api/v1/search"), connection.receive, connection.send
            )
        assert app.cancelled
        assert connection.status == 504
        body = connection.json
        assert body["type"] == "https://bazaar.dev/problems/deadline-exceeded"
        assert body["instance"] == "/api/v1/search"
        assert listener.events == [DeadlineExceeded(10.0, 0.0, response_started=False)]

    async def test_the_header_budget_is_enforced_by_the_timer(self) -> None:
        app = Hang()
        connection = Connection(EMPTY_BODY)
        scope = http_scope(headers=[(b"x-request-timeout", b"0.001")])
        await middleware(app)(scope, connection.receive, connection.send)
        assert app.cancelled
        assert connection.status == 504
        assert "0.001 s" in connection.json["detail"]

    async def test_a_downstream_call_refused_for_lack_of_time_answers_504(self) -> None:
        clock = ManualClock()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            clock.advance(11.0)  # a slow step, on the injected clock
            timeout_for(2.0)  # raises DeadlineExceededError
            await respond(send)

        connection = Connection(EMPTY_BODY)
        await middleware(app, clock)(http_scope(), connection.receive, connection.send)
        assert connection.status == 504

    async def test_a_deadline_error_after_the_response_started_propagates(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise DeadlineExceededError(overdue_s=0.5)

        connection = Connection(EMPTY_BODY)
        with pytest.raises(DeadlineExceededError):
            await middleware(app)(http_scope(), connection.receive, connection.send)

    async def test_the_apps_own_timeout_error_is_not_a_deadline(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            raise TimeoutError("a socket timed out")

        connection = Connection(EMPTY_BODY)
        with pytest.raises(TimeoutError, match="socket"):
            await middleware(app)(http_scope(), connection.receive, connection.send)
        assert connection.sent == []

    async def test_a_started_response_is_not_cut_by_the_timer(self) -> None:
        clock, listener = ManualClock(), RecordingListener()

        async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await settle()  # the timer would have fired by now
            await send({"type": "http.response.body", "body": b"chunk", "more_body": True})
            await send({"type": "http.response.body", "body": b"end"})

        connection = Connection(EMPTY_BODY)
        with deadline_scope(1.0, clock):
            clock.advance(1.0)
            await middleware(streaming_app, clock, listener)(
                http_scope(), connection.receive, connection.send
            )
        assert [m.get("body") for m in connection.sent[1:]] == [b"chunk", b"end"]
        assert listener.events == []


class TestClientDisconnect:
    async def test_a_disconnect_cancels_the_work_of_a_bodiless_request(self) -> None:
        listener, app = RecordingListener(), Hang()
        connection = Connection(EMPTY_BODY)
        request = asyncio.create_task(
            middleware(app, listener=listener)(http_scope(), connection.receive, connection.send)
        )
        await app.entered.wait()
        connection.disconnect()
        await request  # returns quietly: the cancellation was the middleware's own
        assert app.cancelled
        assert connection.sent == []
        assert listener.events == [ClientDisconnected(0.0, response_started=False)]

    async def test_the_servers_task_is_not_left_cancelling(self) -> None:
        app = Hang()
        connection = Connection(EMPTY_BODY)
        after: list[int] = []

        async def server() -> None:
            await middleware(app)(http_scope(), connection.receive, connection.send)
            after.append(asyncio.current_task().cancelling())  # type: ignore[union-attr]
            await asyncio.sleep(0)  # would raise if a cancellation were still pending

        task = asyncio.create_task(server())
        await app.entered.wait()
        connection.disconnect()
        await task
        assert after == [0]

    async def test_the_body_is_never_taken_from_the_app(self) -> None:
        chunks = [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
        connection = Connection(*chunks)
        read_first = asyncio.Event()
        go_on = asyncio.Event()
        received: list[Message] = []
        hang = Hang()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            received.append(await receive())
            read_first.set()
            await go_on.wait()
            received.append(await receive())
            await hang(scope, receive, send)

        request = asyncio.create_task(
            middleware(app)(post_scope(4), connection.receive, connection.send)
        )
        await read_first.wait()
        await settle()
        assert connection.inbox.qsize() == 1  # the last chunk is still waiting for the app
        go_on.set()
        await hang.entered.wait()
        assert received == chunks
        connection.disconnect()
        await request
        assert hang.cancelled

    async def test_a_disconnect_while_the_body_streams_is_handed_to_the_app(self) -> None:
        connection = Connection({"type": "http.request", "body": b"ab", "more_body": True})
        received: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            received.append((await receive())["type"])
            received.append((await receive())["type"])
            received.append((await receive())["type"])  # asked again: still gone

        request = asyncio.create_task(
            middleware(app)(post_scope(10), connection.receive, connection.send)
        )
        await settle()
        connection.disconnect()
        await request
        assert received == ["http.request", "http.disconnect", "http.disconnect"]

    async def test_after_the_response_a_disconnect_cancels_nothing(self) -> None:
        heard: list[str] = []
        connection = Connection(EMPTY_BODY)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            heard.append((await receive())["type"])  # the body, read up front for the app
            await respond(send)
            # Work after the response (a background task) that listens for the client;
            # the watcher, now the only reader of receive(), relays the disconnect.
            heard.append((await receive())["type"])

        request = asyncio.create_task(
            middleware(app)(http_scope(), connection.receive, connection.send)
        )
        await settle()
        connection.disconnect()
        await request
        assert heard == ["http.request", "http.disconnect"]
        assert connection.status == 200

    async def test_a_client_gone_before_the_app_starts_gets_no_work(self) -> None:
        listener, app = RecordingListener(), Hang()
        connection = Connection({"type": "http.disconnect"})
        await middleware(app, listener=listener)(http_scope(), connection.receive, connection.send)
        assert not app.entered.is_set()
        assert listener.events == [ClientDisconnected(0.0, response_started=False)]

    async def test_a_server_cancellation_still_propagates(self) -> None:
        app = Hang()
        connection = Connection(EMPTY_BODY)
        request = asyncio.create_task(
            middleware(app)(http_scope(), connection.receive, connection.send)
        )
        await app.entered.wait()
        request.cancel()  # e.g. the server shutting down
        with pytest.raises(asyncio.CancelledError):
            await request
        assert app.cancelled

    async def test_an_app_that_swallows_the_cancellation_leaves_no_pending_cancel(
        self,
    ) -> None:
        connection = Connection(EMPTY_BODY)
        entered = asyncio.Event()
        after: list[int] = []

        async def stubborn_app(scope: Scope, receive: Receive, send: Send) -> None:
            entered.set()
            with contextlib.suppress(asyncio.CancelledError):  # wrong, but apps do it
                await asyncio.Event().wait()

        async def server() -> None:
            await middleware(stubborn_app)(http_scope(), connection.receive, connection.send)
            after.append(asyncio.current_task().cancelling())  # type: ignore[union-attr]
            await asyncio.sleep(0)

        task = asyncio.create_task(server())
        await entered.wait()
        connection.disconnect()
        await task
        assert after == [0]


class TestDeferredDisconnectWatch:
    async def test_a_request_done_before_the_watch_point_is_never_watched(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await respond(send)

        connection = Connection(EMPTY_BODY)
        await middleware(app, watch_delay_s=60.0)(http_scope(), connection.receive, connection.send)
        await settle()
        assert connection.handed_out == [EMPTY_BODY]  # only the body read up front
        assert connection.status == 200

    async def test_a_request_still_running_at_the_watch_point_is_watched(self) -> None:
        app = Hang()
        connection = Connection(EMPTY_BODY)
        request = asyncio.create_task(
            middleware(app, watch_delay_s=0.001)(http_scope(), connection.receive, connection.send)
        )
        await app.entered.wait()
        connection.disconnect()
        await request
        assert app.cancelled

    async def test_an_app_listening_for_the_client_is_watched_at_once(self) -> None:
        cancelled = asyncio.Event()
        connection = Connection(EMPTY_BODY)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()  # the body
            try:
                await receive()  # waits for the client to leave
            except asyncio.CancelledError:
                cancelled.set()
                raise

        request = asyncio.create_task(
            middleware(app, watch_delay_s=60.0)(http_scope(), connection.receive, connection.send)
        )
        await settle()
        connection.disconnect()
        await request
        assert cancelled.is_set()

    async def test_a_started_response_keeps_its_watch_point(self) -> None:
        clock, app = ManualClock(), Hang()

        async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await app(scope, receive, send)

        connection = Connection(EMPTY_BODY)
        with deadline_scope(1.0, clock):
            clock.advance(1.0)  # the deadline comes before the watch point...
            request = asyncio.create_task(
                middleware(streaming_app, clock, watch_delay_s=0.001)(
                    http_scope(), connection.receive, connection.send
                )
            )
            await app.entered.wait()  # ...but the response started, lifting it
        connection.disconnect()
        await request
        assert app.cancelled
        assert connection.status == 200
