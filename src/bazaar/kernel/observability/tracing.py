"""Tracing (capabilities §10.1): OpenTelemetry spans, kept in process and exported over OTLP.

One ``Tracing`` per process, installed by the composition root (``install``); instrumented
code asks ``tracer()`` for the installed tracer at the moment it starts a span, so code
that runs before installation, or in a process that turned tracing off, gets the
OpenTelemetry no-op tracer and pays almost nothing.

Why a process-wide tracer rather than one passed down: the code that starts spans (the
unit of work's outbox write, the SQL engine's statements, consumers, outbound HTTP) is
reached through many constructors, and the trace context itself is already process-wide
(a context variable). The OpenTelemetry *API* is what instrumented code depends on; what
records behind it (``spans.SpanRecorder``) and the SDK's exporter are assembled here only.

``TraceStore`` keeps the most recent traces in memory, bounded, for ``GET
/api/v1/admin/traces`` and the console's waterfall view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bazaar.kernel.observability.spans import RecordedSpan, SpanRecorder

__all__ = [
    "SpanRecord",
    "TraceRecord",
    "TraceStore",
    "Tracing",
    "child_span",
    "context_from_headers",
    "in_recorded_trace",
    "install",
    "installed",
    "otlp_exporter",
    "trace_headers",
    "traceparent_of",
    "tracer",
    "uninstall",
]

INSTRUMENTATION_NAME = "bazaar"
# A trace with more spans than this (a runaway loop) keeps its first ones only.
MAX_SPANS_PER_TRACE = 2_000

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_OP_TRACER: trace.Tracer = trace.NoOpTracer()
_KIND_NAMES = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
    SpanKind.INTERNAL: "internal",
}
_STATUS_NAMES = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span as the admin API shows it (api.md, ``/api/v1/admin/traces``)."""

    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start: datetime
    duration_ms: float
    attributes: Mapping[str, Any]
    status: str


@dataclass(frozen=True, slots=True)
class TraceRecord:
    trace_id: str
    spans: Sequence[SpanRecord]


def _record_of(span: RecordedSpan) -> SpanRecord:
    context = span.context
    start = span.start_time
    end = span.end_time if span.end_time is not None else start
    parent = span.parent
    return SpanRecord(
        span_id=format(context.span_id, "016x"),
        parent_id=format(parent.span_id, "016x") if parent is not None else None,
        name=span.name,
        kind=_KIND_NAMES.get(span.kind, "internal"),
        start=datetime.fromtimestamp(start / 1e9, UTC),
        duration_ms=round((end - start) / 1e6, 3),
        attributes=dict(span.attributes),
        status=_STATUS_NAMES.get(span.status.status_code, "unset"),
    )


def _trace_record(trace_id: int, spans: list[RecordedSpan]) -> TraceRecord:
    return TraceRecord(format(trace_id, "032x"), sorted(map(_record_of, spans), key=_start))


def _start(span: SpanRecord) -> datetime:
    return span.start


class TraceStore:
    """The ``max_traces`` most recently active traces of this process, in memory.

    Spans arrive as they end, on the thread that ends them, hence the lock. A trace moves
    to the front whenever one of its spans ends, so a long checkout whose consumers finish
    late is not evicted before it is complete. Ended spans are kept as recorded (they no
    longer change) and turned into ``SpanRecord``s only when read: storing costs every
    request, reading only the console.
    """

    def __init__(self, max_traces: int) -> None:
        if max_traces < 1:
            raise ValueError("max_traces must be at least 1")
        self._max_traces = max_traces
        self._traces: OrderedDict[int, list[RecordedSpan]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, span: RecordedSpan) -> None:
        """Keep ``span``, which has ended."""
        trace_id = span.context.trace_id
        with self._lock:
            spans = self._traces.get(trace_id)
            if spans is None:
                spans = self._traces[trace_id] = []
                while len(self._traces) > self._max_traces:
                    self._traces.popitem(last=False)
            else:
                self._traces.move_to_end(trace_id)
            if len(spans) < MAX_SPANS_PER_TRACE:
                spans.append(span)

    def recent(self, limit: int) -> list[TraceRecord]:
        """The ``limit`` most recently active traces, newest first, spans by start time."""
        with self._lock:
            items = list(self._traces.items())[-limit:] if limit > 0 else []
            copies = [(trace_id, list(spans)) for trace_id, spans in items]
        return [_trace_record(trace_id, spans) for trace_id, spans in reversed(copies)]

    def get(self, trace_id: str) -> TraceRecord | None:
        """The trace ``trace_id`` (32 hex digits, any case), or None if not kept."""
        try:
            key = int(trace_id, 16)
        except ValueError:
            return None
        with self._lock:
            spans = self._traces.get(key)
            copy = None if spans is None else list(spans)
        return None if copy is None else _trace_record(key, copy)

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)


class Tracing:
    """Parent-based ratio sampling, the in-process store, and an OTLP exporter.

    Spans are recorded by ``SpanRecorder`` (see ``spans``: the SDK's own span cost too
    much per request); the SDK's batching processor and exporter ship them when an
    exporter is configured, each span turned into the SDK's ``ReadableSpan`` on the way.

    Args:
        service_name: ``service.name`` of every span (``bazaar``).
        sample_ratio: the share of new traces recorded (0..1); a request that arrives with
            a sampled ``traceparent`` is recorded whatever the ratio (parent-based).
        store: the in-process trace store, or None to keep nothing in process.
        exporter: an OTLP exporter (or any), fed through a batching processor.
    """

    def __init__(
        self,
        *,
        service_name: str,
        sample_ratio: float,
        store: TraceStore | None,
        exporter: SpanExporter | None = None,
    ) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError("sample_ratio must be within 0..1")
        self.store = store
        self._resource = Resource.create({"service.name": service_name})
        self._scope = InstrumentationScope(INSTRUMENTATION_NAME)
        self._exporting = BatchSpanProcessor(exporter) if exporter is not None else None
        self.tracer: trace.Tracer = SpanRecorder(sample_ratio, self._ended)

    def _ended(self, span: RecordedSpan) -> None:
        if self.store is not None:
            self.store.add(span)
        if self._exporting is not None:
            self._exporting.on_end(self._readable(span))

    def _readable(self, span: RecordedSpan) -> ReadableSpan:
        """``span`` as the SDK's exporters take it."""
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=self._resource,
            attributes=span.attributes,
            events=[Event(name, attributes, at) for name, attributes, at in span.events],
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=self._scope,
        )

    def shutdown(self) -> None:
        """Flush the exporter's last batch and stop its thread."""
        if self._exporting is not None:
            self._exporting.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK


def otlp_exporter(endpoint: str) -> SpanExporter:
    """An OTLP/HTTP (protobuf) exporter to the collector at ``endpoint`` (``/v1/traces``)."""
    # Imported only when configured: the exporter brings protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")


_installed: Tracing | None = None


def install(tracing: Tracing | None) -> None:
    """Make ``tracing`` the one ``tracer()`` hands out; None turns tracing off.

    The composition root calls this: the process's latest container decides.
    """
    global _installed
    _installed = tracing


def uninstall(tracing: Tracing) -> None:
    """Undo ``install(tracing)`` if it is still the installed one."""
    global _installed
    if _installed is tracing:
        _installed = None


def installed() -> Tracing | None:
    return _installed


def tracer() -> trace.Tracer:
    """The installed tracer, or OpenTelemetry's no-op tracer when none is installed."""
    tracing = _installed
    return _NO_OP_TRACER if tracing is None else tracing.tracer


def in_recorded_trace() -> bool:
    """Whether the current span is being recorded: the test for spans that only ever join a
    trace (SQL statements, Redis commands, cache misses) and never start one.

    Without it every statement a background loop runs (the relay polling the outbox, lease
    renewals) would be a trace of its own: thousands of one-span traces an hour crowding the
    store out of the requests and checkouts it is there to show, each one paid for.
    """
    return _installed is not None and trace.get_current_span().is_recording()


def child_span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[trace.Span]:
    """A span under the current recorded span, or a no-op one outside any (see
    ``in_recorded_trace``). Exceptions are left to the caller to record as a status."""
    tracer = _installed.tracer if in_recorded_trace() and _installed is not None else _NO_OP_TRACER
    return tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    """The trace context a ``traceparent`` (and ``tracestate``) header carries, if valid.

    An absent or malformed header gives an empty context: a new trace starts.
    """
    return _PROPAGATOR.extract(headers)


def trace_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span; empty outside any span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def traceparent_of(span: trace.Span) -> str | None:
    """The W3C ``traceparent`` naming ``span``, or None for a span that is not valid."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    flags = int(context.trace_flags) & 0xFF
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
