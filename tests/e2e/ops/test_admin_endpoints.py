"""Breakers and fault injection over HTTP: who may use them and what they change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bazaar.kernel.resilience import FaultSpec
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import IdentityApi, assert_problem, bearer


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(data_dir=tmp_path, demo=True, fast_password_hashing=True) as harness:
        yield harness


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path, operator_key="operator-key-for-tests", fast_password_hashing=True
    ) as harness:
        yield harness


class TestBreakers:
    async def test_lists_the_psp_breaker_closed_for_an_admin(self, demo: AppHarness) -> None:
        tenant = await IdentityApi(demo.client).create_tenant()
        response = await demo.client.get(
            "/api/v1/admin/breakers", headers=bearer(tenant.admin_token)
        )
        assert response.status_code == 200
        (psp,) = [b for b in response.json() if b["name"] == "psp"]
        assert psp == {
            "name": "psp",
            "state": "closed",
            "failure_rate": 0.0,
            "calls": 0,
            "opened_at": None,
            "consecutive_failures": 0,
        }

    async def test_refuses_anonymous_and_customers(self, demo: AppHarness) -> None:
        api = IdentityApi(demo.client)
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        customer = await api.access_token(tenant.id, "c@acme.test")
        anonymous = await demo.client.get("/api/v1/admin/breakers")
        as_customer = await demo.client.get("/api/v1/admin/breakers", headers=bearer(customer))
        assert_problem(anonymous, 401, "unauthenticated")
        assert_problem(as_customer, 403, "forbidden")

    async def test_the_operator_key_is_enough(self, production: AppHarness) -> None:
        response = await production.client.get(
            "/api/v1/admin/breakers", headers={"x-operator-key": "operator-key-for-tests"}
        )
        assert response.status_code == 200

    async def test_readiness_reports_breakers_without_failing(self, demo: AppHarness) -> None:
        body = (await demo.client.get("/readyz")).json()
        assert body["checks"]["breakers"] == {"ok": True, "not_closed": []}


class TestFaultInjection:
    async def test_demo_mode_sets_and_clears_a_fault(self, demo: AppHarness) -> None:
        put = await demo.client.put(
            "/api/v1/admin/faults/psp", json={"latency_ms": 200, "error_rate": 0.25}
        )
        assert put.status_code == 200
        assert put.json() == {
            "dependency": "psp",
            "latency_ms": 200.0,
            "error_rate": 0.25,
            "outage": False,
        }
        guard = demo.container.dependencies.get("psp")
        assert guard is not None
        assert guard.faults.spec == FaultSpec(latency_ms=200, error_rate=0.25)
        deleted = await demo.client.delete("/api/v1/admin/faults/psp")
        assert deleted.status_code == 204
        assert guard.faults.spec == FaultSpec()

    async def test_outside_demo_mode_needs_an_admin(self, production: AppHarness) -> None:
        response = await production.client.put("/api/v1/admin/faults/psp", json={"outage": True})
        assert_problem(response, 401, "unauthenticated")
        allowed = await production.client.put(
            "/api/v1/admin/faults/psp",
            json={"outage": True},
            headers={"x-operator-key": "operator-key-for-tests"},
        )
        assert allowed.status_code == 200

    @pytest.mark.parametrize(
        ("dependency", "detail"), [("nope", "Unknown dependency"), ("redis", "not wired")]
    )
    async def test_unknown_or_unwired_dependencies_are_404(
        self, demo: AppHarness, dependency: str, detail: str
    ) -> None:
        response = await demo.client.put(f"/api/v1/admin/faults/{dependency}", json={})
        body = assert_problem(response, 404, "not-found")
        assert detail in body["detail"]

    async def test_invalid_faults_are_422_and_change_nothing(self, demo: AppHarness) -> None:
        response = await demo.client.put(
            "/api/v1/admin/faults/psp", json={"error_rate": 2, "latency_ms": -1, "typo": 1}
        )
        assert_problem(response, 422, "validation")
        assert {e["field"] for e in response.json()["errors"]} == {
            "error_rate",
            "latency_ms",
            "typo",
        }
        guard = demo.container.dependencies.get("psp")
        assert guard is not None
        assert guard.faults.spec == FaultSpec()


class TestAdmission:
    async def test_the_bound_can_be_changed_at_run_time(self, demo: AppHarness) -> None:
        before = await demo.client.get("/api/v1/admin/admission")
        assert before.json()["max_in_flight"] == 256
        changed = await demo.client.put("/api/v1/admin/admission", json={"max_in_flight": 3})
        assert changed.status_code == 200
        assert changed.json()["max_in_flight"] == 3
        assert changed.json()["critical_limit"] == 4

    async def test_a_bound_below_one_is_refused(self, demo: AppHarness) -> None:
        response = await demo.client.put("/api/v1/admin/admission", json={"max_in_flight": 0})
        assert_problem(response, 422, "validation", field="max_in_flight")
