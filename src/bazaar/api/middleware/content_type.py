"""Content-type check (capabilities §1.2): bodies sent to the JSON API must be JSON (415)."""

from __future__ import annotations

from bazaar.api.middleware._asgi import ASGIApp, Receive, Scope, Send, header, send_problem

__all__ = ["ContentTypeMiddleware"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    # application/json, and structured suffixes such as application/merge-patch+json.
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class ContentTypeMiddleware:
    """Refuses a request body under ``prefixes`` whose media type is not JSON."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/api/",)) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and scope["path"].startswith(self.prefixes)
            and _has_body(scope)
        ):
            content_type = header(scope, b"content-type")
            if content_type is None or not _is_json(content_type):
                await send_problem(
                    send,
                    415,
                    "unsupported-media-type",
                    detail="Send the body as application/json.",
                    instance=scope["path"],
                    headers=[(b"accept", b"application/json")],
                )
                return
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    length = header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"0", b"")
    return header(scope, b"transfer-encoding") is not None
