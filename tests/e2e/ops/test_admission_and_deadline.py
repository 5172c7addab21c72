"""Load shedding and request deadlines, wired into the real app (capabilities §1.10, §3.4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import APIRouter

from bazaar.testing.app import AppHarness, running_app

router = APIRouter()
gates: dict[str, asyncio.Event] = {}
arrivals: dict[str, asyncio.Event] = {}


@router.get("/api/v1/hold/{name}")
async def hold(name: str) -> dict[str, str]:
    arrivals[name].set()
    await gates[name].wait()
    return {"released": name}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(data_dir=tmp_path, demo=True, max_in_flight=2) as harness:
        harness.client._transport.app.include_router(router)  # type: ignore[attr-defined]
        yield harness


def held(name: str) -> tuple[asyncio.Event, asyncio.Event]:
    gates[name] = asyncio.Event()
    arrivals[name] = asyncio.Event()
    return gates[name], arrivals[name]


class TestLoadShedding:
    async def test_over_the_bound_answers_503_with_retry_after_and_health_still_answers(
        self, harness: AppHarness
    ) -> None:
        client = harness.client
        gate_a, in_a = held("a")
        gate_b, in_b = held("b")
        first = asyncio.create_task(client.get("/api/v1/hold/a"))
        second = asyncio.create_task(client.get("/api/v1/hold/b"))
        await asyncio.wait_for(asyncio.gather(in_a.wait(), in_b.wait()), 10)

        shed = await client.get("/api/v1/hold/c")
        health = await client.get("/healthz")
        gate_a.set()
        gate_b.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200

        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["type"].endswith("/overloaded")
        assert shed.json()["request_id"] == shed.headers["x-request-id"]
        assert health.status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'bazaar_shed_total{reason="in_flight_limit"} 1.0' in metrics


class TestDeadline:
    async def test_a_request_over_its_budget_answers_504(self, harness: AppHarness) -> None:
        held("slow")  # never released: only the deadline ends it
        response = await harness.client.get(
            "/api/v1/hold/slow", headers={"x-request-timeout": "0.05"}
        )
        assert response.status_code == 504
        assert response.json()["type"].endswith("/deadline-exceeded")

    async def test_an_invalid_request_timeout_is_a_422_naming_the_header(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.get("/healthz", headers={"x-request-timeout": "soon"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "header.x-request-timeout"
