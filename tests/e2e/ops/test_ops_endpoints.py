"""The Ops rows of api.md and the error answers of the request path, over HTTP in process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bazaar.testing.app import AppHarness, running_app


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=10)
    quantity: int = Field(ge=1, le=100)


probe_router = APIRouter()


@probe_router.post("/api/v1/probes/{probe_id}", status_code=201)
async def create_probe(probe_id: int, probe: Probe) -> dict[str, object]:
    return {"id": probe_id, **probe.model_dump()}


@probe_router.get("/api/v1/crash")
async def crash() -> None:
    raise RuntimeError("boom with a secret inside")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(data_dir=tmp_path, demo=True) as harness:
        app = harness.client._transport.app  # type: ignore[attr-defined]
        app.include_router(probe_router)
        yield harness


def assert_problem(response: object, status: int, slug: str) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["type"] == f"https://bazaar.dev/problems/{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert {"title", "detail", "instance"} <= body.keys()
    return body


class TestOpsEndpoints:
    async def test_healthz_answers_ok(self, harness: AppHarness) -> None:
        response = await harness.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_reports_the_database_check(self, harness: AppHarness) -> None:
        response = await harness.client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready"
        assert body["checks"]["database"]["ok"] is True

    async def test_readyz_answers_503_while_draining(self, harness: AppHarness) -> None:
        harness.container.lifecycle.begin_drain()
        response = await harness.client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["status"] == "draining"

    async def test_openapi_and_docs_are_served(self, harness: AppHarness) -> None:
        spec = await harness.client.get("/openapi.json")
        assert spec.status_code == 200
        assert spec.json()["openapi"].startswith("3.1")
        docs = await harness.client.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()

    async def test_metrics_label_routes_by_template(self, harness: AppHarness) -> None:
        body = {"name": "a", "quantity": 1}
        for probe_id in (101, 202, 303):
            await harness.client.post(f"/api/v1/probes/{probe_id}", json=body)
        await harness.client.get("/no/such/path/12345")
        text = (await harness.client.get("/metrics")).text
        assert (
            'http_requests_total{method="POST",route="/api/v1/probes/{probe_id}",status="201"} 3.0'
            in text
        )
        assert "http_request_duration_seconds_bucket" in text
        assert "http_requests_in_flight" in text
        routes = set(re.findall(r'route="([^"]*)"', text))
        assert routes >= {"/api/v1/probes/{probe_id}", "<unmatched>"}
        assert not any(raw in route for route in routes for raw in ("101", "202", "12345"))


class TestErrorAnswers:
    async def test_unknown_route_is_404_problem(self, harness: AppHarness) -> None:
        assert_problem(await harness.client.get("/api/v1/nothing-here"), 404, "not-found")

    async def test_wrong_method_is_405_problem(self, harness: AppHarness) -> None:
        response = await harness.client.delete("/healthz")
        assert_problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == "GET"

    async def test_malformed_json_is_400(self, harness: AppHarness) -> None:
        response = await harness.client.post(
            "/api/v1/probes/1", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert_problem(response, 400, "malformed-body")

    async def test_a_json_array_instead_of_an_object_is_400(self, harness: AppHarness) -> None:
        response = await harness.client.post("/api/v1/probes/1", json=[1, 2])
        assert_problem(response, 400, "malformed-body")

    async def test_wrong_content_type_is_415(self, harness: AppHarness) -> None:
        response = await harness.client.post(
            "/api/v1/probes/1", content=b"name=a", headers={"content-type": "text/plain"}
        )
        assert_problem(response, 415, "unsupported-media-type")

    async def test_two_mebibyte_body_is_413(self, harness: AppHarness) -> None:
        response = await harness.client.post(
            "/api/v1/probes/1",
            content=b"x" * (2 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 413, "payload-too-large")

    async def test_wrong_types_are_422_with_field_errors(self, harness: AppHarness) -> None:
        response = await harness.client.post(
            "/api/v1/probes/x", json={"name": "", "quantity": "many", "extra": 1}
        )
        body = assert_problem(response, 422, "validation")
        errors = body["errors"]
        assert isinstance(errors, list)
        fields = {e["field"] for e in errors}
        assert fields == {"path.probe_id", "name", "quantity", "extra"}
        assert all(e["message"] for e in errors)

    async def test_an_unhandled_error_is_a_500_problem_without_internals(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.get("/api/v1/crash")
        assert_problem(response, 500, "internal")
        assert "secret" not in response.text
        assert "Traceback" not in response.text

    async def test_a_client_request_id_is_echoed_into_the_problem(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.get("/nope", headers={"x-request-id": "trace-me-42"})
        body = assert_problem(response, 404, "not-found")
        assert body["request_id"] == "trace-me-42"


class TestDatabaseBusy:
    async def test_a_writer_busy_past_the_pool_timeout_is_a_503_overloaded(
        self, tmp_path: Path
    ) -> None:
        from sqlalchemy import text

        async with (
            running_app(
                data_dir=tmp_path,
                demo=True,
                fast_password_hashing=True,
                database={"pool_timeout_s": 0.2},
            ) as harness,
            # Hold SQLite's one writer connection in an open write transaction.
            harness.container.database.sessions() as session,
        ):
            await session.execute(text("UPDATE alembic_version SET version_num = version_num"))
            response = await harness.client.post(
                "/api/v1/tenants",
                json={"name": "Busy", "admin_email": "a@busy.test", "admin_password": "x" * 12},
            )
            await session.rollback()

        body = assert_problem(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
        assert "Traceback" not in str(body)
