"""Deprecated routes announce it (capabilities §1.6): ``Deprecation``, ``Sunset``, successor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Deprecation", "DeprecationMiddleware"]


@dataclass(frozen=True, slots=True)
class Deprecation:
    """When a route stopped being the one to use, when it goes, and what replaces it.

    ``successor`` is a path template with the route's own parameters
    (``/api/v2/products/{product_id}``), filled in from the request.

    Raises:
        ValueError: On construction, if a date is naive or the sunset is not after the
            deprecation.
    """

    deprecated_at: datetime
    sunset_at: datetime
    successor: str

    def __post_init__(self) -> None:
        if self.deprecated_at.tzinfo is None or self.sunset_at.tzinfo is None:
            raise ValueError("deprecation and sunset dates need a time zone")
        if self.sunset_at <= self.deprecated_at:
            raise ValueError("the sunset must come after the deprecation")

    def headers(self, path_params: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
        """The three response headers for one request to the deprecated route."""
        # Path parameters are client text: quoted, so nothing in them can end the URI
        # reference (">"), add a parameter (";") or split the header (CR, LF).
        successor = self.successor.format_map(
            {name: quote(str(value), safe="") for name, value in path_params.items()}
        )
        return [
            # RFC 9745 §2.1: a Structured Field Date, "@" and seconds since the epoch; a
            # date in the future announces a deprecation to come.
            (b"deprecation", f"@{int(self.deprecated_at.timestamp())}".encode("ascii")),
            # RFC 8594 §3: an HTTP-date (IMF-fixdate, always GMT).
            (b"sunset", format_datetime(self.sunset_at.astimezone(UTC), usegmt=True).encode()),
            (b"link", f'<{successor}>; rel="successor-version"'.encode()),
        ]


class DeprecationMiddleware:
    """Adds ``Deprecation``, ``Sunset`` and a ``successor-version`` link to every answer of
    a deprecated route: 2xx, 304, and the errors raised by its dependencies and handler.

    Routes are named by template (``/api/v1/products/{product_id}``), read from
    ``scope["route"]`` once the router has matched; every method of a template is covered,
    as RFC 9745 deprecates resources, not methods. Answers given before routing (shedding,
    limits, unknown paths) are not about any route and get nothing.
    """

    def __init__(self, app: ASGIApp, routes: Mapping[str, Deprecation]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes:
            await self.app(scope, receive, send)
            return

        async def send_with_deprecation(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = getattr(scope.get("route"), "path", None)
                deprecation = self.routes.get(path) if isinstance(path, str) else None
                if deprecation is not None:
                    extra = deprecation.headers(scope.get("path_params") or {})
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_deprecation)
