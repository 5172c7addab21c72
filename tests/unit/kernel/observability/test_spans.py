"""The recording span behind the OpenTelemetry API: sampling exactly as the SDK's
``ParentBased(TraceIdRatioBased)``, and the SDK's rules for attributes, statuses, events and
ended spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from bazaar.kernel.observability.spans import RecordedSpan, SpanRecorder

trace_ids = st.integers(min_value=1, max_value=(1 << 128) - 1)
ratios = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def recorder(ratio: float = 1.0) -> tuple[SpanRecorder, list[RecordedSpan]]:
    ended: list[RecordedSpan] = []
    return SpanRecorder(ratio, ended.append), ended


def parent_context(sampled: bool, *, remote: bool = True) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0xABC, 0xDEF, remote, flags, TraceState([("vendor", "v")]))
    return trace.set_span_in_context(NonRecordingSpan(parent))


class TestSampling:
    @given(trace_id=trace_ids, ratio=ratios)
    def test_a_new_trace_is_kept_exactly_when_the_sdk_sampler_keeps_it(
        self, trace_id: int, ratio: float
    ) -> None:
        ours = SpanRecorder(ratio, lambda span: None)
        sdk = ParentBased(TraceIdRatioBased(ratio))
        expected = sdk.should_sample(None, trace_id, "s").decision is Decision.RECORD_AND_SAMPLE
        assert ((trace_id & ((1 << 64) - 1)) < ours._bound) is expected

    def test_the_ratio_applies_to_new_traces(self) -> None:
        tracer, _ = recorder(0.25)
        spans = [tracer.start_span("s") for _ in range(4000)]
        kept = sum(span.is_recording() for span in spans)
        assert 800 < kept < 1200
        for span in spans:
            flags = span.get_span_context().trace_flags
            assert flags.sampled is span.is_recording()

    def test_a_sampled_parent_is_followed_whatever_the_ratio(self) -> None:
        tracer, ended = recorder(0.0)
        span = tracer.start_span("child", context=parent_context(sampled=True))
        assert isinstance(span, RecordedSpan)
        assert span.parent is not None
        assert (span.context.trace_id, span.parent.span_id) == (0xABC, 0xDEF)
        assert span.context.span_id not in (0, 0xDEF)
        assert span.context.trace_state.get("vendor") == "v"
        span.end()
        assert ended == [span]

    def test_an_unsampled_parent_gives_a_non_recording_span_that_keeps_the_decision(
        self,
    ) -> None:
        tracer, ended = recorder(1.0)
        span = tracer.start_span("child", context=parent_context(sampled=False))
        assert not span.is_recording()
        context = span.get_span_context()
        assert context.trace_id == 0xABC
        assert context.span_id != 0xDEF
        assert not context.trace_flags.sampled
        span.end()
        assert ended == []

    def test_the_current_span_is_the_parent(self) -> None:
        tracer, ended = recorder()
        with (
            tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer,
            tracer.start_as_current_span("inner") as inner,
        ):
            assert trace.get_current_span() is inner
        assert [s.name for s in ended] == ["inner", "outer"]
        assert isinstance(inner, RecordedSpan)
        assert inner.parent == outer.get_span_context()
        assert trace.get_current_span() is not outer

    def test_the_ratio_is_checked(self) -> None:
        with pytest.raises(ValueError, match="sample_ratio"):
            SpanRecorder(1.01, lambda span: None)


class TestRecordedSpan:
    def test_attributes_keep_otlp_values_and_drop_the_rest(self) -> None:
        tracer, _ = recorder()
        span = tracer.start_span("s", attributes={"a": 1, "b": "x"})
        span.set_attributes({"c": [1, 2], "d": object(), "e": [1, "mixed"], "f": True})  # type: ignore[dict-item]
        span.set_attribute("g", 0.5)
        assert isinstance(span, RecordedSpan)
        assert span.attributes == {"a": 1, "b": "x", "c": (1, 2), "f": True, "g": 0.5}

    def test_an_ended_span_ignores_writes_and_a_second_end(self) -> None:
        tracer, ended = recorder()
        span = tracer.start_span("s")
        span.end()
        span.set_attribute("late", 1)
        span.update_name("renamed")
        span.set_status(StatusCode.ERROR)
        span.add_event("late")
        span.end()
        assert isinstance(span, RecordedSpan)
        assert (span.name, span.attributes, span.events) == ("s", {}, [])
        assert span.status.status_code is StatusCode.UNSET
        assert ended == [span]
        assert span.end_time is not None
        assert span.end_time >= span.start_time

    def test_ok_is_final_and_unset_never_overwrites(self) -> None:
        tracer, _ = recorder()
        failed = tracer.start_span("failed")
        failed.set_status(Status(StatusCode.ERROR, "boom"))
        failed.set_status(StatusCode.UNSET)
        assert isinstance(failed, RecordedSpan)
        assert (failed.status.status_code, failed.status.description) == (StatusCode.ERROR, "boom")
        ok = tracer.start_span("ok")
        ok.set_status(StatusCode.OK)
        ok.set_status(StatusCode.ERROR, "too late")
        assert isinstance(ok, RecordedSpan)
        assert ok.status.status_code is StatusCode.OK

    def test_an_exception_escaping_the_block_is_an_event_and_an_error(self) -> None:
        tracer, ended = recorder()
        try:
            with tracer.start_as_current_span("s"):
                raise KeyError("missing")
        except KeyError:
            pass
        (span,) = ended
        assert span.status.status_code is StatusCode.ERROR
        ((name, attributes, at),) = span.events
        assert name == "exception"
        assert attributes["exception.type"] == "KeyError"
        assert "missing" in str(attributes["exception.message"])
        assert "Traceback" in str(attributes["exception.stacktrace"])
        assert at >= span.start_time

    def test_exceptions_can_be_left_to_the_caller(self) -> None:
        tracer, ended = recorder()
        try:
            with tracer.start_as_current_span(
                "s", record_exception=False, set_status_on_exception=False
            ):
                raise RuntimeError("the caller decides")
        except RuntimeError:
            pass
        (span,) = ended
        assert (span.status.status_code, span.events) == (StatusCode.UNSET, [])
