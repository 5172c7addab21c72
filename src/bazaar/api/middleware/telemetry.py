"""RED metrics and one access-log line per request, labelled by route template."""

from __future__ import annotations

import time

import structlog

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send
from bazaar.kernel.observability.metrics import Metrics

__all__ = ["TelemetryMiddleware"]

access_log = structlog.get_logger("bazaar.access")

# Requests that match no route share one label, so unknown paths cannot grow cardinality.
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/products/{id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return UNMATCHED_ROUTE


class TelemetryMiddleware:
    """Counts, times and logs each request after the router has set ``scope["route"]``."""

    def __init__(self, app: ASGIApp, metrics: Metrics, *, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        in_flight = self.metrics.http_requests_in_flight
        in_flight.inc()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            in_flight.dec()
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = scope["method"]
            self.metrics.http_requests_total.labels(route, method, str(status)).inc()
            self.metrics.http_request_duration_seconds.labels(route, method).observe(elapsed)
            if self.log_requests:
                access_log.info(
                    "request",
                    method=method,
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
