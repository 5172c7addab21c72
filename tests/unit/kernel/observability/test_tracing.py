"""The tracing kit: the bounded trace store, W3C propagation helpers, installation, and
the consumer span that continues a trace from an envelope's headers."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.locks.memory import InMemoryLeaseStore
from bazaar.kernel.messaging.consumer import ConsumerConfig, MessageConsumer
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.handlers import Subscription
from bazaar.kernel.messaging.memory import InMemoryBroker
from bazaar.kernel.messaging.ports import Record
from bazaar.kernel.observability import tracing
from bazaar.kernel.observability.tracing import (
    MAX_SPANS_PER_TRACE,
    TraceStore,
    Tracing,
    context_from_headers,
    trace_headers,
    traceparent_of,
)

AT = datetime(2026, 11, 27, tzinfo=UTC)


class Inbox:
    """Remembers nothing: every message is new (the inbox is not under test here)."""

    async def seen(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        return set()

    async def record_all(self, consumer: str, message_ids: Sequence[str], at: datetime) -> None:
        """Nothing to remember."""


class DeadLetters:
    async def add(self, letter: object) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {letter}")


class Ids:
    def next_id(self) -> int:
        return 1


async def consume(headers: dict[str, str], handle: Callable[[Envelope], Awaitable[None]]) -> None:
    """Publish one ``orders.order_placed`` envelope with ``headers`` and drain it."""
    clock = ManualClock()
    broker = InMemoryBroker(partitions=1)
    consumer = MessageConsumer(
        Subscription(consumer="test", topics=("orders",), handlers={"orders.order_placed": handle}),
        broker,
        leases=InMemoryLeaseStore(clock),
        inbox=Inbox(),  # type: ignore[arg-type]
        dead_letters=DeadLetters(),  # type: ignore[arg-type]
        clock=clock,
        ids=Ids(),
        holder="worker-1",
        config=ConsumerConfig(max_attempts=3, backoff_base_s=1.0, backoff_max_s=10.0),
        rng=random.Random(7),
    )
    message = Envelope(
        id="1", type="orders.order_placed", version=1, key="k", occurred_at=AT, payload={},
        headers=headers,
    )  # fmt: skip
    await broker.publish("orders", [Record(message.key, message.encode())])
    await consumer.drain("orders", 0)


@pytest.fixture
def installed() -> Iterator[Tracing]:
    """A tracing with a store of 3 traces, installed for the test only."""
    kit = Tracing(service_name="test", sample_ratio=1.0, store=TraceStore(3))
    previous = tracing.installed()
    tracing.install(kit)
    try:
        yield kit
    finally:
        tracing.install(previous)
        kit.shutdown()


def store_of(kit: Tracing) -> TraceStore:
    assert kit.store is not None
    return kit.store


def new_trace(name: str) -> str:
    """One finished root span; its trace id."""
    with tracing.tracer().start_as_current_span(name) as span:
        return format(span.get_span_context().trace_id, "032x")


class TestTraceStore:
    def test_keeps_the_most_recently_active_traces(self, installed: Tracing) -> None:
        first, second, third = new_trace("a"), new_trace("b"), new_trace("c")
        # A late span of the first trace makes it the most recent again.
        context = context_from_headers({"traceparent": f"00-{first}-{'1' * 16}-01"})
        tracing.tracer().start_span("late", context=context).end()
        fourth = new_trace("d")
        kept = [t.trace_id for t in store_of(installed).recent(10)]
        assert kept == [fourth, first, third]
        assert store_of(installed).get(second) is None

    def test_spans_come_out_by_start_time_with_their_parents(self, installed: Tracing) -> None:
        with tracing.tracer().start_as_current_span("root", kind=SpanKind.SERVER) as root:
            tracing.tracer().start_span("child", attributes={"n": 1}).end()
        trace_id = format(root.get_span_context().trace_id, "032x")
        record = store_of(installed).get(trace_id.upper())
        assert record is not None
        assert [s.name for s in record.spans] == ["root", "child"]
        root_record, child = record.spans
        assert (root_record.kind, root_record.parent_id) == ("server", None)
        assert child.parent_id == root_record.span_id
        assert (child.kind, child.attributes, child.status) == ("internal", {"n": 1}, "unset")
        assert child.duration_ms >= 0

    def test_a_runaway_trace_keeps_its_first_spans(self, installed: Tracing) -> None:
        with tracing.tracer().start_as_current_span("root") as root:
            for n in range(MAX_SPANS_PER_TRACE + 5):
                tracing.tracer().start_span(f"s{n}").end()
        record = store_of(installed).get(format(root.get_span_context().trace_id, "032x"))
        assert record is not None
        assert len(record.spans) == MAX_SPANS_PER_TRACE
        assert "root" not in {s.name for s in record.spans}  # it ended last

    def test_limits_are_checked(self) -> None:
        with pytest.raises(ValueError, match="max_traces"):
            TraceStore(0)
        with pytest.raises(ValueError, match="sample_ratio"):
            Tracing(service_name="t", sample_ratio=1.5, store=None)


class TestPropagation:
    def test_trace_headers_name_the_current_span(self, installed: Tracing) -> None:
        assert trace_headers() == {}
        with tracing.tracer().start_as_current_span("outer") as span:
            headers = trace_headers()
            assert headers["traceparent"] == traceparent_of(span)
        context = trace.get_current_span(context_from_headers(headers)).get_span_context()
        assert context.trace_id == span.get_span_context().trace_id
        assert context.is_remote

    def test_nothing_is_traced_when_nothing_is_installed(self) -> None:
        previous = tracing.installed()
        tracing.install(None)
        try:
            with tracing.tracer().start_as_current_span("ignored") as span:
                assert traceparent_of(span) is None
                assert trace_headers() == {}
        finally:
            tracing.install(previous)

    def test_uninstall_leaves_a_newer_installation_alone(self, installed: Tracing) -> None:
        older = Tracing(service_name="old", sample_ratio=1.0, store=None)
        tracing.uninstall(older)
        assert tracing.installed() is installed
        tracing.uninstall(installed)
        assert tracing.installed() is None


class TestConsumerSpans:
    async def test_a_handler_runs_in_the_trace_its_envelope_carries(
        self, installed: Tracing
    ) -> None:
        seen: list[trace.SpanContext] = []

        async def handle(message: Envelope) -> None:
            seen.append(trace.get_current_span().get_span_context())

        with tracing.tracer().start_as_current_span("outbox write", kind=SpanKind.PRODUCER) as p:
            headers = trace_headers()
        await consume(headers, handle)

        (context,) = seen
        producer = p.get_span_context()
        assert context.trace_id == producer.trace_id
        record = store_of(installed).get(format(producer.trace_id, "032x"))
        assert record is not None
        (consumer,) = [s for s in record.spans if s.kind == "consumer"]
        assert consumer.parent_id == format(producer.span_id, "016x")
        assert consumer.name == "test process orders.order_placed"
        assert consumer.attributes["messaging.message.id"] == "1"

    async def test_a_failed_attempt_is_an_error_span_and_the_retry_another(
        self, installed: Tracing
    ) -> None:
        failures = [RuntimeError("smtp hiccup")]

        async def handle(message: Envelope) -> None:
            if failures:
                raise failures.pop()

        with tracing.tracer().start_as_current_span("outbox write") as producer:
            headers = trace_headers()
        await consume(headers, handle)
        record = store_of(installed).get(format(producer.get_span_context().trace_id, "032x"))
        assert record is not None
        attempts = [s for s in record.spans if s.kind == "consumer"]
        assert [(s.attributes["bazaar.attempt"], s.status) for s in attempts] == [
            (1, "error"),
            (2, "unset"),
        ]
