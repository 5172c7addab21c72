"""BAZAAR_OTLP_ENDPOINT (§10.1): spans reach an OTLP/HTTP collector as protobuf batches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bazaar.testing.app import running_app


class Collector:
    """A minimal OTLP/HTTP trace collector on a loopback port."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, ExportTraceServiceRequest]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.requests.append((self.path, self.headers["content-type"], request))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet: the test reads what arrived instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def span_names(self) -> set[str]:
        return {
            span.name
            for _, _, request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        }


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    thread = threading.Thread(target=collector.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.server.shutdown()
        collector.server.server_close()


async def test_spans_are_exported_to_the_collector(tmp_path: Path, collector: Collector) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with running_app(data_dir=tmp_path, demo=True, otlp_endpoint=collector.url) as app:
        response = await app.client.get(
            "/healthz", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
        assert response.status_code == 200
    # Closing the app flushes the exporter's last batch.
    assert collector.requests, "nothing reached the collector"
    path, content_type, request = collector.requests[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert "GET /healthz" in collector.span_names()
    (resource,) = {
        attribute.value.string_value
        for resource_spans in request.resource_spans
        for attribute in resource_spans.resource.attributes
        if attribute.key == "service.name"
    }
    assert resource == "bazaar"
    (server,) = [
        span
        for _, _, request in collector.requests
        for resource_spans in request.resource_spans
        for scope in resource_spans.scope_spans
        for span in scope.spans
        if span.name == "GET /healthz"
    ]
    assert (server.trace_id.hex(), server.parent_span_id.hex()) == (trace_id, parent_id)
    assert server.kind == server.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in server.attributes}
    assert attributes["http.route"].string_value == "/healthz"
    assert attributes["http.response.status_code"].int_value == 200
    assert server.end_time_unix_nano >= server.start_time_unix_nano > 0
