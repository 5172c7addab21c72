"""Last line of defence: an unhandled exception becomes a 500 problem without a stack trace."""

from __future__ import annotations

import structlog

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, send_problem

__all__ = ["UnhandledErrorMiddleware"]

log = structlog.get_logger("bazaar.api")


class UnhandledErrorMiddleware:
    """Catches what the route-level handlers did not; logs it with the trace, answers 500.

    Sits inside the request-id middleware so the problem body and the log line carry the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
            if not started:
                await send_problem(
                    send,
                    500,
                    "internal",
                    detail="The server could not complete the request.",
                    instance=scope.get("path"),
                )
