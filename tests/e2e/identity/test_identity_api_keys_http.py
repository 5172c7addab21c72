"""API keys over HTTP: shown once, used with X-API-Key, scoped, revoked by owner or admin."""

from __future__ import annotations

from typing import Any

import pytest
from identity_http_support import IdentityApi, assert_problem, bearer


async def create_key(
    api: IdentityApi, token: str, scopes: list[str] | None = None
) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/api-keys",
        json={"name": "ci", "scopes": scopes if scopes is not None else ["products:write"]},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestApiKeyLifecycle:
    async def test_create_use_delete(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        key = await create_key(api, tenant.admin_token)
        assert key["key"].startswith(f"bz_live_{key['prefix']}_")
        assert key["scopes"] == ["products:write"]
        assert key["id"].isdigit()

        me = await api.client.get("/api/v1/me", headers={"x-api-key": key["key"]})
        assert me.status_code == 200
        assert me.json()["email"] == "admin@acme.test"

        deleted = await api.client.delete(
            f"/api/v1/api-keys/{key['id']}", headers=bearer(tenant.admin_token)
        )
        assert deleted.status_code == 204
        after = await api.client.get("/api/v1/me", headers={"x-api-key": key["key"]})
        assert_problem(after, 401, "unauthenticated")
        again = await api.client.delete(
            f"/api/v1/api-keys/{key['id']}", headers=bearer(tenant.admin_token)
        )
        assert_problem(again, 404, "not-found")

    async def test_a_key_acts_with_its_scopes_only(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        key = await create_key(api, tenant.admin_token, scopes=["products:write"])
        # Managing keys needs api_keys:manage, which this admin's key was not given.
        response = await api.client.post(
            "/api/v1/api-keys",
            json={"name": "child", "scopes": []},
            headers={"x-api-key": key["key"]},
        )
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize("value", ["bz_live_nope", "bz_live_AAAAAAAA_" + "A" * 43, "Bearer x"])
    async def test_unknown_or_malformed_keys_are_unauthenticated(
        self, api: IdentityApi, value: str
    ) -> None:
        response = await api.client.get("/api/v1/me", headers={"x-api-key": value})
        assert_problem(response, 401, "unauthenticated")


class TestApiKeyPermissions:
    async def test_customers_cannot_create_keys(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        customer = await api.access_token(tenant.id, "c@acme.test")
        response = await api.client.post(
            "/api/v1/api-keys", json={"name": "x", "scopes": []}, headers=bearer(customer)
        )
        assert_problem(response, 403, "forbidden")

    async def test_anonymous_callers_cannot_create_keys(self, api: IdentityApi) -> None:
        response = await api.client.post("/api/v1/api-keys", json={"name": "x", "scopes": []})
        assert_problem(response, 401, "unauthenticated")

    async def test_a_merchant_cannot_grant_scopes_it_lacks(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        merchant = await api.user_token(tenant.id, "m@acme.test", "merchant", tenant.admin_token)
        response = await api.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "scopes": ["tenant:admin"]},
            headers=bearer(merchant),
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_scopes_are_field_errors(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        response = await api.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "scopes": ["products:write", "root"]},
            headers=bearer(tenant.admin_token),
        )
        assert_problem(response, 422, "validation", field="scopes.1")

    async def test_only_the_owner_or_an_admin_deletes_a_key(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        owner = await api.user_token(tenant.id, "m1@acme.test", "merchant", tenant.admin_token)
        other = await api.user_token(tenant.id, "m2@acme.test", "merchant", tenant.admin_token)
        key = await create_key(api, owner)
        path = f"/api/v1/api-keys/{key['id']}"
        assert_problem(await api.client.delete(path, headers=bearer(other)), 404, "not-found")
        assert (
            await api.client.delete(path, headers=bearer(tenant.admin_token))
        ).status_code == 204

    async def test_another_tenants_key_is_not_found(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant("A")
        other = await api.create_tenant("B")
        key = await create_key(api, tenant.admin_token)
        response = await api.client.delete(
            f"/api/v1/api-keys/{key['id']}", headers=bearer(other.admin_token)
        )
        assert_problem(response, 404, "not-found")

    @pytest.mark.parametrize("key_id", ["abc", "1" * 25, "-1"])
    async def test_malformed_ids_are_not_found(self, api: IdentityApi, key_id: str) -> None:
        tenant = await api.create_tenant()
        response = await api.client.delete(
            f"/api/v1/api-keys/{key_id}", headers=bearer(tenant.admin_token)
        )
        assert_problem(response, 404, "not-found")
