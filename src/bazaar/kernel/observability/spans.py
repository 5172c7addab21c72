"""The span that records, behind the OpenTelemetry API (capabilities §10.1).

Instrumented code only ever uses the OpenTelemetry *API* (``trace.Tracer``, ``trace.Span``,
``use_span``, the context); ``SpanRecorder`` is the tracer behind it and ``RecordedSpan``
what it records. Why not the SDK's own tracer: measured, the SDK's span cost 18 µs in a
tight loop and 45-100 µs of a real request's CPU (a lock, bounded attribute and event
containers, the span-processor fan-out, a ``ReadableSpan`` copy when it ends), which put
tracing every request at 0.83-0.88x of the warm product read's throughput; this span costs
a few µs (docs/benchmarks.md, "Tracing's cost").

What it keeps of the SDK's behaviour, on purpose:

* sampling is ``ParentBased(TraceIdRatioBased(ratio))`` to the bit: a parent's decision is
  followed, a new trace is recorded when the low 64 bits of its id fall under
  ``round(ratio * 2**64)``; an unrecorded span is a ``NonRecordingSpan`` that still carries
  fresh ids and the decision, so the trace stays unsampled downstream;
* ids come from the process's ``random`` module, which is reseeded after a fork, so the
  workers of ``bazaar api --workers N`` never share a sequence;
* attribute values are limited to the OTLP types (str, bool, int, float and homogeneous
  sequences of them); anything else is dropped, as the SDK drops it;
* a status of OK is final and UNSET never overwrites; writes to an ended span are ignored.

Export stays the SDK's: ``Tracing`` turns an ended span into an SDK ``ReadableSpan`` only
when an OTLP exporter is configured.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util.types import Attributes, AttributeValue

__all__ = ["RecordedSpan", "SpanEvent", "SpanRecorder"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_LOW_64_BITS = (1 << 64) - 1
_UNSET = Status(StatusCode.UNSET)
_SCALARS = (str, bool, int, float)
_getrandbits = random.getrandbits  # the module's generator: reseeded in a forked child

SpanEvent = tuple[str, Mapping[str, AttributeValue], int]  # name, attributes, time (ns)


def _new_trace_id() -> int:
    while True:
        trace_id = _getrandbits(128)
        if trace_id:  # all zeros is the invalid id
            return trace_id


def _new_span_id() -> int:
    while True:
        span_id = _getrandbits(64)
        if span_id:
            return span_id


def _clean(value: object) -> AttributeValue | None:
    """``value`` as an OTLP attribute value, or None when it cannot be one."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = tuple(value)
        if not items:
            return ()
        kind = type(items[0])
        if kind in _SCALARS and all(type(item) is kind for item in items):
            return items
    return None


class RecordedSpan(trace.Span):
    """One sampled span: what happened, when, under which parent; handed on when it ends."""

    __slots__ = (
        "_on_end",
        "attributes",
        "context",
        "end_time",
        "events",
        "kind",
        "links",
        "name",
        "parent",
        "start_time",
        "status",
    )

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Attributes,
        links: Sequence[Link] | None,
        start_time: int | None,
        on_end: Callable[[RecordedSpan], None],
    ) -> None:
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.events: list[SpanEvent] = []
        self.links: tuple[Link, ...] = tuple(links) if links else ()
        self.status = _UNSET
        self.start_time = start_time if start_time is not None else time_ns()
        self.end_time: int | None = None
        self._on_end = on_end
        self.attributes: dict[str, AttributeValue] = {}
        if attributes:
            self.set_attributes(attributes)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return  # ended once; the SDK ignores a second end as well
        self.end_time = end_time if end_time is not None else time_ns()
        self._on_end(self)

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is not None:
            return
        own = self.attributes
        for key, value in attributes.items():
            if type(value) in _SCALARS:  # the common case, without the general check
                own[key] = value
            elif (cleaned := _clean(value)) is not None:
                own[key] = cleaned

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.set_attributes({key: value})

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is not None:
            return
        cleaned = {k: c for k, v in (attributes or {}).items() if (c := _clean(v)) is not None}
        self.events.append((name, cleaned, timestamp if timestamp is not None else time_ns()))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if self.end_time is None and context.is_valid:
            self.links = (*self.links, Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return  # OK is final
        new = status if isinstance(status, Status) else Status(status, description)
        if new.status_code is not StatusCode.UNSET:
            self.status = new

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """An ``exception`` event with the semantic-convention attributes."""
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, AttributeValue] = {
            "exception.type": f"{module}.{kind.__qualname__}"
            if module and module != "builtins"
            else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(
                traceback.format_exception(kind, exception, exception.__traceback__)
            ),
            "exception.escaped": str(escaped),
        }
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)


class SpanRecorder(trace.Tracer):
    """The tracer: decides sampling, makes ``RecordedSpan``s, hands ended ones to ``on_end``.

    Args:
        sample_ratio: the share of new traces recorded, 0..1 (a parent's decision wins).
        on_end: called with every recorded span as it ends, on the thread that ends it.
    """

    def __init__(self, sample_ratio: float, on_end: Callable[[RecordedSpan], None]) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError("sample_ratio must be within 0..1")
        self._bound = round(sample_ratio * (_LOW_64_BITS + 1))
        self._on_end = on_end

    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            sampled = parent.trace_flags.sampled
            trace_state = parent.trace_state
        else:
            parent = None
            trace_id = _new_trace_id()
            sampled = (trace_id & _LOW_64_BITS) < self._bound
            trace_state = None
        span_context = SpanContext(
            trace_id, _new_span_id(), False, _SAMPLED if sampled else _NOT_SAMPLED, trace_state
        )
        if not sampled:
            return NonRecordingSpan(span_context)
        return RecordedSpan(
            name, span_context, parent, kind, attributes, links, start_time, self._on_end
        )

    # The API declares its private ``_AgnosticContextManager`` (a context manager that is
    # also a decorator); spans are only ever used in ``with`` here, so a plain one serves.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current
