"""Request deadlines (capabilities §1.10): a budget, 504 when it is spent, cancel on disconnect."""

from __future__ import annotations

import asyncio
import math
import re

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header, send_problem
from bazaar.api.problems import PROBLEM_CONTENT_TYPE, FieldError, raw_problem
from bazaar.kernel.clock import Clock
from bazaar.kernel.deadline import (
    ClientDisconnected,
    DeadlineExceeded,
    DeadlineExceededError,
    DeadlineListener,
    deadline_scope,
)

__all__ = [
    "DEFAULT_DISCONNECT_WATCH_DELAY_S",
    "REQUEST_TIMEOUT_FIELD",
    "DeadlineMiddleware",
    "parse_request_timeout",
]

# Requests that finish sooner are never watched; see DeadlineMiddleware.
DEFAULT_DISCONNECT_WATCH_DELAY_S = 0.05

REQUEST_TIMEOUT_FIELD = "header.x-request-timeout"  # as FastAPI names a header parameter
# Decimal seconds only ("2", "0.25", ".5"): no exponents, signs, "inf"/"nan" or the
# underscores float() would accept; 32 characters is far more than any sane value needs.
_TIMEOUT_SYNTAX = re.compile(rb"[ \t]*(?:\d+(?:\.\d*)?|\.\d+)[ \t]*")
_MAX_TIMEOUT_CHARS = 32
_DISCONNECT: Message = {"type": "http.disconnect"}


def parse_request_timeout(raw: bytes) -> float | None:
    """The seconds an ``X-Request-Timeout`` value asks for, or None if it is not valid.

    Valid values are positive decimal numbers of seconds, e.g. ``2``, ``0.25``.
    """
    if len(raw) > _MAX_TIMEOUT_CHARS or not _TIMEOUT_SYNTAX.fullmatch(raw):
        return None
    value = float(raw)
    return value if value > 0 and math.isfinite(value) else None


class DeadlineMiddleware:
    """Gives every HTTP request a deadline and enforces it; cancels work for departed clients.

    * The budget is ``default_timeout_s``; an ``X-Request-Timeout`` header (decimal seconds)
      may lower it, never raise it: a larger value is capped at the default. A malformed,
      zero or negative value is answered with a 422 ``validation`` problem naming the header
      (as every invalid parameter is, capabilities §1.2),
      because silently ignoring it would hand a client that asked for 0.5 s the full 10 s.
    * The deadline is put in the kernel's context variable (``bazaar.kernel.deadline``) so
      each downstream call takes ``timeout_for(own)``. If the budget runs out before the
      response starts, the app is cancelled and the client gets a 504 ``deadline-exceeded``
      problem. A ``DeadlineExceededError`` escaping the app (a downstream call refused for
      lack of time) gets the same answer.
    * The budget bounds the time to the start of the response. Once the app has started
      it, the timer is lifted: a 504 can no longer be sent, and cutting a streamed response
      (server-sent events, exports) midway helps nobody. The disconnect watch still applies.
    * When the client disconnects before the response is complete, the app is cancelled.
      A side task reads ``receive()`` for ``http.disconnect`` — but only once the app has
      had the final request-body chunk (``more_body`` false), so it never takes a body
      message from the app. From then on the watcher is the only reader of ``receive()``;
      the app, if it asks again, gets ``http.disconnect`` when the client leaves. A request
      that declares no body (no ``Content-Length`` or ``0``, no ``Transfer-Encoding``) has
      its single empty body message read up front and handed to the app unchanged, so
      body-less requests, most GETs, can be watched too. Work still running after the
      response is complete (Starlette background tasks) is neither timed nor cancelled.
    * The watcher starts only once a request has run ``disconnect_watch_delay_s``: a task
      per request would cost more than the whole of a fast request's work, and cancelling
      a request that is about to finish saves nothing. The deadline and the watch share
      one timer handle on the event loop, so a fast request costs one handle and no task.

    The deadline's remaining time is read from the injected clock; the timer that enforces
    it runs on the event loop's clock. Place this middleware inside the request-id, error
    and security-header middleware (so its problems carry the id and the headers) and
    outside the body-limit middleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_timeout_s: float = 10.0,
        clock: Clock,
        listener: DeadlineListener | None = None,
        disconnect_watch_delay_s: float = DEFAULT_DISCONNECT_WATCH_DELAY_S,
    ) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app to run under deadlines.
            default_timeout_s: Each request's budget, in seconds (``BAZAAR_REQUEST_TIMEOUT_S``).
            clock: Where the deadline's monotonic time comes from.
            listener: Receives ``DeadlineExceeded`` and ``ClientDisconnected``.
            disconnect_watch_delay_s: How long a request runs before its client is watched
                for a disconnect; 0 watches from the moment the body has been read.

        Raises:
            ValueError: If ``default_timeout_s`` is not a positive, finite number, or
                ``disconnect_watch_delay_s`` is negative or not finite.
        """
        if not (math.isfinite(default_timeout_s) and default_timeout_s > 0):
            raise ValueError(f"default_timeout_s must be > 0, got {default_timeout_s}")
        if not (math.isfinite(disconnect_watch_delay_s) and disconnect_watch_delay_s >= 0):
            raise ValueError(
                f"disconnect_watch_delay_s must be >= 0, got {disconnect_watch_delay_s}"
            )
        self.app = app
        self.default_timeout_s = default_timeout_s
        self.clock = clock
        self.listener = listener
        self.disconnect_watch_delay_s = disconnect_watch_delay_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget_s = self.default_timeout_s
        raw = header(scope, b"x-request-timeout")
        if raw is not None:
            asked = parse_request_timeout(raw)
            if asked is None:
                await _send_invalid_timeout(send, scope["path"])
                return
            budget_s = min(budget_s, asked)
        await _Request(self, scope, receive, send, budget_s).run()


class _Request:
    """One request under the middleware: the flags its app, send, timer and watcher share.

    The one timer handle serves two purposes in turn: first the watch point (start the
    disconnect watcher), if that comes before the deadline, then the deadline itself.
    Cancellations this object issues are counted so they are taken back (``uncancel``)
    exactly, leaving any cancellation from the server itself to propagate.
    """

    __slots__ = (
        "app_running",
        "body_done",
        "budget_s",
        "client_gone",
        "complete",
        "deadline_active",
        "deadline_at",
        "expired",
        "gone_event",
        "handle",
        "handle_is_watch",
        "loop",
        "middleware",
        "our_cancels",
        "pending",
        "receive",
        "scope",
        "send",
        "started",
        "started_at",
        "task",
        "watch_at",
        "watch_due",
        "watcher",
    )

    def __init__(
        self,
        middleware: DeadlineMiddleware,
        scope: Scope,
        receive: Receive,
        send: Send,
        budget_s: float,
    ) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - ASGI servers always call apps inside a task
            raise RuntimeError("DeadlineMiddleware must run inside an asyncio task")
        self.middleware = middleware
        self.scope = scope
        self.receive = receive
        self.send = send
        self.budget_s = budget_s
        self.task = task
        self.loop = task.get_loop()
        self.started_at = middleware.clock.monotonic()
        self.pending: Message | None = None  # a body message read up front, for the app
        self.body_done = False  # the app has had the last body chunk (or the disconnect)
        self.app_running = False
        self.started = False  # http.response.start sent
        self.complete = False  # the last http.response.body sent
        self.client_gone = False
        self.gone_event: asyncio.Event | None = None  # made only if the app waits for it
        self.watcher: asyncio.Task[None] | None = None
        self.watch_due = middleware.disconnect_watch_delay_s <= 0
        self.deadline_active = True
        self.expired = False
        self.deadline_at = 0.0  # event-loop time
        self.watch_at = 0.0  # event-loop time
        self.handle: asyncio.TimerHandle | None = None
        self.handle_is_watch = False
        self.our_cancels = 0  # task.cancel() calls made here and not yet taken back

    async def run(self) -> None:
        if _declares_no_body(self.scope):
            first = await self.receive()
            if first["type"] == "http.disconnect":
                self._emit_disconnect()  # gone before any work started: do none
                return
            self.pending = first
            self.body_done = not first.get("more_body", False)
        try:
            with deadline_scope(self.budget_s, self.middleware.clock) as deadline:
                now = self.loop.time()
                self.deadline_at = now + deadline.remaining_s()
                self.watch_at = now + self.middleware.disconnect_watch_delay_s
                if self.body_done and self.watch_due:
                    self._start_watcher()
                self._arm()
                await self._run_app()
        finally:
            if self.handle is not None:
                self.handle.cancel()
            if self.watcher is not None:
                self.watcher.cancel()
            while self.our_cancels:
                # The app swallowed a cancellation of ours: take it back, so the server's
                # task is not left marked as cancelling.
                self.our_cancels -= 1
                self.task.uncancel()

    async def _run_app(self) -> None:
        try:
            self.app_running = True
            try:
                await self.middleware.app(self.scope, self._app_receive, self._app_send)
            finally:
                self.app_running = False  # from here on neither timer nor watcher cancels
        except asyncio.CancelledError:
            if not self._absorb_our_cancels():
                raise  # someone else (the server) cancelled the request too
            if self.expired:
                await self._deadline_exceeded()
            else:
                self._emit_disconnect()
        except DeadlineExceededError:
            if self.started:
                raise
            await self._deadline_exceeded()

    def _absorb_our_cancels(self) -> bool:
        """Take back this object's cancellations; True if no other cancellation remains."""
        if self.our_cancels == 0:
            return False
        remaining = self.task.cancelling()
        while self.our_cancels:
            self.our_cancels -= 1
            remaining = self.task.uncancel()
        return remaining == 0

    def _cancel_app(self) -> None:
        self.our_cancels += 1
        self.task.cancel()

    # --- the timer: watch point first (if sooner), then the deadline ---

    def _arm(self) -> None:
        if not self.watch_due and (not self.deadline_active or self.watch_at < self.deadline_at):
            self.handle = self.loop.call_at(self.watch_at, self._on_watch_point)
            self.handle_is_watch = True
        elif self.deadline_active:
            self.handle = self.loop.call_at(self.deadline_at, self._on_deadline)
            self.handle_is_watch = False
        else:
            self.handle = None

    def _on_watch_point(self) -> None:
        self.handle = None
        self.watch_due = True
        if self.body_done and self.app_running and not self.complete:
            self._start_watcher()
        self._arm()

    def _on_deadline(self) -> None:
        self.handle = None
        if self.app_running and not self.expired:
            self.expired = True
            self._cancel_app()

    def _lift(self, *, keep_watch: bool) -> None:
        """Stop enforcing the deadline; keep (or re-arm) the watch point if ``keep_watch``."""
        self.deadline_active = False
        if self.handle is not None and (not keep_watch or not self.handle_is_watch):
            self.handle.cancel()
            self.handle = None
            if keep_watch:
                self._arm()  # the watch point, if it is still to come

    # --- what the app sees ---

    async def _app_receive(self) -> Message:
        if self.pending is not None:
            message, self.pending = self.pending, None
            return message
        if self.body_done:
            # The watcher owns receive() once it runs; all that is left to hear is the
            # disconnect. Until the watch point, nobody reads: the app simply waits.
            if not self.client_gone:
                if self.gone_event is None:
                    self.gone_event = asyncio.Event()
                self._start_watcher()  # the app listens for the client: watch now
                await self.gone_event.wait()
            return dict(_DISCONNECT)
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.body_done = True
            self.client_gone = True  # the app hears it itself; it decides what to do
        elif message["type"] == "http.request" and not message.get("more_body", False):
            self.body_done = True
            if self.watch_due:
                self._start_watcher()
        return message

    async def _app_send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            self._lift(keep_watch=True)
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.complete = True
            self._lift(keep_watch=False)
        await self.send(message)

    # --- the disconnect watcher ---

    def _start_watcher(self) -> None:
        if self.watcher is None:
            self.watcher = asyncio.create_task(self._watch_for_disconnect())

    async def _watch_for_disconnect(self) -> None:
        try:
            while (await self.receive())["type"] != "http.disconnect":
                pass
        except Exception:  # a receive() that fails cannot be watched any further
            return
        self.client_gone = True
        if self.gone_event is not None:
            self.gone_event.set()
        # After the response is complete a disconnect is normal (servers report one once
        # the response is sent) and whatever still runs is not the client's to cancel.
        if self.app_running and not self.complete and not self.expired:
            self._cancel_app()

    # --- answers and events ---

    async def _deadline_exceeded(self) -> None:
        listener = self.middleware.listener
        if listener is not None:
            elapsed = self.middleware.clock.monotonic() - self.started_at
            listener.on_event(DeadlineExceeded(self.budget_s, elapsed, self.started))
        if not self.started:
            await send_problem(
                self.send,
                504,
                "deadline-exceeded",
                detail=f"The request did not complete within its {self.budget_s:g} s budget.",
                instance=self.scope["path"],
            )

    def _emit_disconnect(self) -> None:
        listener = self.middleware.listener
        if listener is not None:
            elapsed = self.middleware.clock.monotonic() - self.started_at
            listener.on_event(ClientDisconnected(elapsed, self.started))


def _declares_no_body(scope: Scope) -> bool:
    if header(scope, b"transfer-encoding") is not None:
        return False
    length = header(scope, b"content-length")
    return length is None or length.strip() in (b"0", b"")


async def _send_invalid_timeout(send: Send, path: str) -> None:
    # send_problem has no field errors; this is the same response with one.
    message = "must be a positive number of seconds, e.g. 2.5"
    body = raw_problem(
        422,
        "validation",
        detail=f"X-Request-Timeout {message}.",
        instance=path,
        errors=[FieldError(field=REQUEST_TIMEOUT_FIELD, message=message, code="invalid")],
    )
    headers = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})
