"""POST /api/v1/tenants: open in demo mode, behind the operator key otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from identity_http_support import PASSWORD, assert_problem

from bazaar.testing.identity import AppFactory

OPERATOR_KEY = "operator-key-" + "o" * 32


def tenant_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Acme",
        "admin_email": "Admin@Acme.test",
        "admin_password": PASSWORD,
    } | overrides


class TestTenantCreationInDemoMode:
    async def test_anyone_creates_a_tenant_and_its_admin_can_log_in(
        self, open_app: AppFactory
    ) -> None:
        async with open_app() as app:
            response = await app.client.post("/api/v1/tenants", json=tenant_body())
            assert response.status_code == 201
            body = response.json()
            assert body["name"] == "Acme"
            assert body["id"].isdigit()
            login = await app.client.post(
                "/api/v1/auth/login",
                json={"tenant_id": body["id"], "email": "admin@acme.test", "password": PASSWORD},
            )
            assert login.status_code == 200

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"admin_email": "not-an-email"}, "admin_email"),
            ({"admin_password": "short"}, "admin_password"),
            ({"name": ""}, "name"),
            ({"name": 42}, "name"),
            ({"extra": "field"}, "extra"),
        ],
    )
    async def test_invalid_bodies_name_the_field(
        self, open_app: AppFactory, overrides: dict[str, Any], field: str
    ) -> None:
        async with open_app() as app:
            response = await app.client.post("/api/v1/tenants", json=tenant_body(**overrides))
        assert_problem(response, 422, "validation", field=field)


class TestTenantCreationOutsideDemoMode:
    async def test_without_the_operator_key_it_is_unauthenticated(
        self, open_app: AppFactory
    ) -> None:
        async with open_app(demo=False, operator_key=OPERATOR_KEY) as app:
            response = await app.client.post("/api/v1/tenants", json=tenant_body())
        assert_problem(response, 401, "unauthenticated")

    async def test_a_wrong_operator_key_is_refused(self, open_app: AppFactory) -> None:
        async with open_app(demo=False, operator_key=OPERATOR_KEY) as app:
            response = await app.client.post(
                "/api/v1/tenants",
                json=tenant_body(),
                headers={"x-operator-key": OPERATOR_KEY[:-1] + "x"},
            )
        assert_problem(response, 401, "unauthenticated")

    async def test_the_operator_key_creates_a_tenant(self, open_app: AppFactory) -> None:
        async with open_app(demo=False, operator_key=OPERATOR_KEY) as app:
            response = await app.client.post(
                "/api/v1/tenants", json=tenant_body(), headers={"x-operator-key": OPERATOR_KEY}
            )
        assert response.status_code == 201

    async def test_without_a_configured_key_creation_is_forbidden(
        self, open_app: AppFactory
    ) -> None:
        async with open_app(demo=False) as app:
            response = await app.client.post(
                "/api/v1/tenants", json=tenant_body(), headers={"x-operator-key": "anything"}
            )
        assert_problem(response, 403, "forbidden")
