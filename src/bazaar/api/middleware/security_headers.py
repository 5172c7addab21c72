"""Security headers on every response (capabilities §1.8)."""

from __future__ import annotations

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header

__all__ = ["SecurityHeadersMiddleware"]

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# The API answers JSON only; a document it serves should run nothing. /docs and the console
# (which need scripts) get their own policy.
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'",
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    """Adds the fixed headers, HSTS behind TLS and ``no-store`` on authenticated answers."""

    def __init__(self, app: ASGIApp, *, trust_forwarded_proto: bool = False) -> None:
        self.app = app
        self.trust_forwarded_proto = trust_forwarded_proto

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https" or (
            self.trust_forwarded_proto and header(scope, b"x-forwarded-proto") == b"https"
        )
        authenticated = (
            header(scope, b"authorization") is not None or header(scope, b"x-api-key") is not None
        )
        path: str = scope["path"]
        csp = _DOCS_CSP if path.startswith(("/docs", "/console")) else _API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(_ALWAYS)
                if b"content-security-policy" not in names:
                    headers.append(csp)
                if tls:
                    headers.append(_HSTS)
                # Authenticated data must not land in shared caches unless a route said so.
                if authenticated and b"cache-control" not in names:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
