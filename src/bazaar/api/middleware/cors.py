"""CORS by allow-list (capabilities §1.8): Starlette's middleware with bazaar's headers."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from bazaar.api.middleware._asgi import ASGIApp
from bazaar.api.problems import problem_response

__all__ = [
    "ALLOWED_METHODS",
    "ALLOWED_REQUEST_HEADERS",
    "EXPOSED_RESPONSE_HEADERS",
    "PREFLIGHT_MAX_AGE_S",
    "AllowListCorsMiddleware",
]

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Every request header the API reads (api.md "Conventions"); Accept and Content-Type are
# CORS-safelisted and always allowed.
ALLOWED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
    "X-Request-Timeout",
    "X-API-Key",
    "traceparent",
)
# Without this list a browser script sees only the CORS-safelisted response headers, and
# could not read its request id, an ETag for If-Match, where a POST created something, how
# long to back off, or that the route it calls is going away.
EXPOSED_RESPONSE_HEADERS = (
    "X-Request-ID",
    "ETag",
    "Location",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
    "Idempotent-Replayed",
    "X-Cache",
    "Deprecation",
    "Sunset",
    "Link",
    "traceparent",
)
# Browsers cap it anyway (Chromium at 2 h, Firefox at 24 h); 10 min keeps a changed
# allow-list from lingering in browsers for long.
PREFLIGHT_MAX_AGE_S = 600


class AllowListCorsMiddleware(CORSMiddleware):
    """Answers preflights and marks responses for the origins of ``BAZAAR_CORS_ORIGINS``.

    Only exact origins (``https://shop.example``) are allowed: no ``*``, no patterns. An
    origin not on the list gets no ``Access-Control-Allow-Origin``, so the browser keeps the
    response from the page; a refused preflight (origin, method or a request header not
    allowed) is a 403 ``forbidden`` problem, where Starlette answers a plain-text 400: every
    error bazaar sends is problem+json. Credentials mode stays off: the
    API authenticates with ``Authorization`` and ``X-API-Key`` headers, never cookies, so a
    page never needs the browser to attach ambient credentials.

    Install it only when the list is not empty (``create_app`` does): with no allowed
    origin, no response carries any CORS header at all.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app.
            origins: The allowed origins, as browsers send them (scheme, host, port).

        Raises:
            ValueError: If ``origins`` is empty or holds ``*``.
        """
        if not origins:
            raise ValueError("an allow-list needs at least one origin")
        if "*" in origins:
            raise ValueError("'*' is not an origin; list the origins to allow")
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_REQUEST_HEADERS,
            allow_credentials=False,
            expose_headers=EXPOSED_RESPONSE_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_S,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers=request_headers)
        if response.status_code < 400:
            return response
        # Starlette says what failed in a text body ("Disallowed CORS origin, headers").
        failed = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        return problem_response(
            403,
            "forbidden",
            detail=f"The CORS policy does not allow this request's {failed}.",
            headers=headers,
        )
