"""RED metrics, a server span and one access-log line per request, by route template.

The span continues the caller's W3C ``traceparent`` when it sends a valid one, and the
answer carries the server span's own ``traceparent`` so the caller can find its trace
(api.md "Conventions").
"""

from __future__ import annotations

import time

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header
from bazaar.kernel.observability import tracing
from bazaar.kernel.observability.context import tenant_id_var
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
        method = scope["method"]
        in_flight = self.metrics.http_requests_in_flight
        in_flight.inc()
        # Authentication names the tenant further in; this request starts with none.
        tenant_token = tenant_id_var.set(None)
        # start_span + attach rather than start_as_current_span, and every attribute set in
        # one call at the end: each of those context managers and locked attribute writes
        # costs µs on every request (docs/benchmarks.md, "Tracing's cost"). Exceptions are
        # the error middleware's to answer; the span records the status it sent.
        span = tracing.tracer().start_span(
            method, context=_caller_context(scope), kind=SpanKind.SERVER
        )
        span_token = otel_context.attach(trace.set_span_in_context(span))
        # With tracing off the no-op span only mirrors the caller's context: no header.
        traceparent = tracing.traceparent_of(span) if tracing.installed() else None
        raw_traceparent = traceparent.encode("ascii") if traceparent else None

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if raw_traceparent is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"traceparent", raw_traceparent),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            in_flight.dec()
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            self.metrics.http_requests_total.labels(route, method, str(status)).inc()
            self.metrics.http_request_duration_seconds.labels(route, method).observe(elapsed)
            if span.is_recording():
                _label_span(span, method, route, scope["path"], status)
            if self.log_requests:  # while the span is current: the line carries its ids
                access_log.info(
                    "request",
                    method=method,
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
            otel_context.detach(span_token)
            span.end()
            tenant_id_var.reset(tenant_token)


def _label_span(span: trace.Span, method: str, route: str, path: str, status: int) -> None:
    """Name the server span after its route and give it the request's attributes."""
    span.update_name(f"{method} {route}")
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.path": path,
        "http.route": route,
        "http.response.status_code": status,
    }
    tenant_id = tenant_id_var.get()
    if tenant_id is not None:
        attributes["bazaar.tenant_id"] = str(tenant_id)
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def _caller_context(scope: Scope) -> Context | None:
    """The caller's trace context from ``traceparent``/``tracestate``; None: a new trace."""
    traceparent = header(scope, b"traceparent")
    if traceparent is None:
        return None
    carrier = {"traceparent": traceparent.decode("latin-1")}
    tracestate = header(scope, b"tracestate")
    if tracestate is not None:
        carrier["tracestate"] = tracestate.decode("latin-1")
    return tracing.context_from_headers(carrier)
