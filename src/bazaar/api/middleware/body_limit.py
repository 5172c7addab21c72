"""Request body limit (capabilities §1.2): 413 before the body is read whole."""

from __future__ import annotations

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header, send_problem

__all__ = ["BodyLimitMiddleware", "BodyTooLargeError"]


class BodyTooLargeError(Exception):
    """The streamed body passed the limit; raised from ``receive`` to stop the handler."""


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    chunked body is counted as it streams and cut off at the limit, so memory stays bounded
    either way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"The body exceeds the limit of {self.max_bytes} bytes."
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_problem(send, 400, "malformed-body", detail="Invalid Content-Length.")
                return
            if length > self.max_bytes:
                await send_problem(
                    send, 413, "payload-too-large", detail=detail, instance=scope.get("path")
                )
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await send_problem(
                    send, 413, "payload-too-large", detail=detail, instance=scope.get("path")
                )
