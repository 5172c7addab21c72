"""Request identity (capabilities §1.9): accept a valid ``X-Request-ID`` or make one; echo it."""

from __future__ import annotations

import re
import uuid

from bazaar.api.context import request_id_var
from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header

__all__ = ["RequestIdMiddleware"]

# Printable, header-safe and log-safe: no spaces, quotes or control characters.
_VALID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


class RequestIdMiddleware:
    """Sets the request id context variable for everything below and echoes the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        if given is not None and _VALID.fullmatch(given):
            request_id = given.decode("ascii")
        else:
            # An invalid id is replaced rather than rejected: the id exists for correlation,
            # and a client bug here should not fail its request.
            request_id = uuid.uuid4().hex
        raw_id = request_id.encode("ascii")
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", raw_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
