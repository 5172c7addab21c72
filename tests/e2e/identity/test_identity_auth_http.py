"""Register, login, me, refresh, logout over HTTP, with every error answer of api.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from identity_http_support import PASSWORD, AppFactory, IdentityApi, assert_problem, bearer

from bazaar.contexts.identity import Role
from bazaar.contexts.identity.adapters import JwtTokenCodec
from bazaar.infra.keys import load_keyring
from bazaar.kernel.clock import ManualClock


class TestRegister:
    async def test_registers_a_customer_by_default(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        response = await api.register(tenant.id, " Carol@Acme.TEST ")
        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "carol@acme.test"
        assert body["role"] == "customer"
        assert body["id"].isdigit()

    async def test_duplicate_email_is_a_conflict(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "carol@acme.test")
        assert_problem(await api.register(tenant.id, "CAROL@acme.test"), 409, "conflict")

    async def test_unknown_tenant_is_a_field_error(self, api: IdentityApi) -> None:
        response = await api.register("123456789", "carol@acme.test")
        assert_problem(response, 422, "validation", field="tenant_id")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"tenant_id": 123}, "tenant_id"),
            ({"tenant_id": "abc"}, "tenant_id"),
            ({"email": "nope"}, "email"),
            ({"email": ["a@b.co"]}, "email"),
            ({"password": "x" * 11}, "password"),
            ({"password": "x" * 257}, "password"),
            ({"role": "root"}, "role"),
            ({"is_admin": True}, "is_admin"),
        ],
    )
    async def test_invalid_fields_are_named(
        self, api: IdentityApi, overrides: dict[str, Any], field: str
    ) -> None:
        tenant = await api.create_tenant()
        body = {"tenant_id": tenant.id, "email": "c@acme.test", "password": PASSWORD}
        response = await api.client.post("/api/v1/auth/register", json=body | overrides)
        assert_problem(response, 422, "validation", field=field)

    async def test_malformed_json_is_a_bad_request(self, api: IdentityApi) -> None:
        response = await api.client.post(
            "/api/v1/auth/register",
            content=b'{"tenant_id": ',
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 400, "malformed-body")

    @pytest.mark.parametrize("role", ["admin", "merchant"])
    async def test_anonymous_callers_cannot_create_privileged_users(
        self, api: IdentityApi, role: str
    ) -> None:
        tenant = await api.create_tenant()
        assert_problem(
            await api.register(tenant.id, "x@acme.test", role=role), 401, "unauthenticated"
        )

    async def test_a_customer_cannot_create_an_admin(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        customer = await api.access_token(tenant.id, "c@acme.test")
        response = await api.register(tenant.id, "x@acme.test", role="admin", token=customer)
        assert_problem(response, 403, "forbidden")

    async def test_an_admin_creates_a_merchant(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        response = await api.register(
            tenant.id, "m@acme.test", role="merchant", token=tenant.admin_token
        )
        assert response.status_code == 201
        assert response.json()["role"] == "merchant"

    async def test_an_admin_cannot_create_a_merchant_in_another_tenant(
        self, api: IdentityApi
    ) -> None:
        tenant = await api.create_tenant()
        other = await api.create_tenant("Other")
        response = await api.register(
            other.id, "m@acme.test", role="merchant", token=tenant.admin_token
        )
        assert_problem(response, 403, "forbidden")


class TestLoginAndMe:
    async def test_register_login_me(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        user = (await api.register(tenant.id, "c@acme.test")).json()
        response = await api.login(tenant.id, "c@acme.test")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        tokens = response.json()
        assert tokens["token_type"] == "Bearer"
        assert tokens["expires_in"] == 900
        assert tokens["refresh_token"].startswith("rt_")
        me = await api.me(tokens["access_token"])
        assert me.status_code == 200
        assert me.json() == {
            "id": user["id"],
            "email": "c@acme.test",
            "role": "customer",
            "tenant_id": tenant.id,
        }

    async def test_wrong_password_and_unknown_email_answer_alike(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        wrong_password = await api.login(tenant.id, "c@acme.test", PASSWORD + "!")
        unknown_email = await api.login(tenant.id, "nobody@acme.test")
        bodies = [
            assert_problem(r, 401, "unauthenticated") for r in (wrong_password, unknown_email)
        ]
        assert {b["detail"] for b in bodies} == {"Invalid credentials."}

    async def test_a_user_of_tenant_a_cannot_log_into_tenant_b(self, api: IdentityApi) -> None:
        tenant_a = await api.create_tenant("A")
        tenant_b = await api.create_tenant("B")
        await api.register(tenant_a.id, "c@acme.test")
        body = assert_problem(await api.login(tenant_b.id, "c@acme.test"), 401, "unauthenticated")
        assert body["detail"] == "Invalid credentials."

    async def test_me_without_credentials_is_unauthenticated(self, api: IdentityApi) -> None:
        assert_problem(await api.client.get("/api/v1/me"), 401, "unauthenticated")

    async def test_me_with_another_scheme_is_unauthenticated(self, api: IdentityApi) -> None:
        response = await api.client.get("/api/v1/me", headers={"authorization": "Basic YTpi"})
        assert_problem(response, 401, "unauthenticated")


class TestRefresh:
    async def test_refresh_rotates_the_pair(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        first = await api.tokens(tenant.id, "c@acme.test")
        response = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert response.status_code == 200
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert (await api.me(second["access_token"])).status_code == 200

    async def test_reusing_a_refresh_token_revokes_the_family(self, api: IdentityApi) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        stolen = (await api.tokens(tenant.id, "c@acme.test"))["refresh_token"]
        legit = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
        assert legit.status_code == 200

        replay = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
        assert_problem(replay, 401, "unauthenticated")
        # The victim's fresh token died with the family.
        victim = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": legit.json()["refresh_token"]}
        )
        assert_problem(victim, 401, "unauthenticated")

    @pytest.mark.parametrize("body", [{"refresh_token": "rt_bogus"}, {"refresh_token": ""}, {}])
    async def test_bad_refresh_requests_are_refused(
        self, api: IdentityApi, body: dict[str, Any]
    ) -> None:
        response = await api.client.post("/api/v1/auth/refresh", json=body)
        if body.get("refresh_token"):
            assert_problem(response, 401, "unauthenticated")
        else:
            assert_problem(response, 422, "validation", field="refresh_token")


class TestLogout:
    async def test_logout_revokes_the_access_token_and_the_refresh_token(
        self, api: IdentityApi
    ) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        tokens = await api.tokens(tenant.id, "c@acme.test")
        response = await api.client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": tokens["refresh_token"]},
            headers=bearer(tokens["access_token"]),
        )
        assert response.status_code == 204
        assert_problem(await api.me(tokens["access_token"]), 401, "unauthenticated")
        refresh = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_problem(refresh, 401, "unauthenticated")

    async def test_logout_needs_a_bearer_token(self, api: IdentityApi) -> None:
        response = await api.client.post("/api/v1/auth/logout", json={"refresh_token": "rt_x"})
        assert_problem(response, 401, "unauthenticated")


class TestRejectedAccessTokens:
    async def _customer_token(self, api: IdentityApi) -> str:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        return await api.access_token(tenant.id, "c@acme.test")

    async def test_an_expired_token_is_refused(self, api: IdentityApi, clock: ManualClock) -> None:
        token = await self._customer_token(api)
        clock.advance(900)
        body = assert_problem(await api.me(token), 401, "unauthenticated")
        assert "expired" in body["detail"]

    async def test_alg_none_is_refused(self, api: IdentityApi) -> None:
        token = await self._customer_token(api)
        header, payload, _ = token.split(".")
        kid = jwt.get_unverified_header(token)["kid"]
        none_header = json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode()
        unsigned_header = jwt.utils.base64url_encode(none_header).decode()
        assert header != unsigned_header
        response = await api.me(f"{unsigned_header}.{payload}.")
        assert_problem(response, 401, "unauthenticated")
        assert "invalid_token" in response.headers["www-authenticate"]

    async def test_a_forged_signature_is_refused(self, api: IdentityApi) -> None:
        token = await self._customer_token(api)
        header, payload, signature = token.split(".")
        forged = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        assert_problem(await api.me(f"{header}.{payload}.{forged}"), 401, "unauthenticated")

    async def test_a_token_signed_by_another_deployment_is_refused(
        self, api: IdentityApi, tmp_path: Path, clock: ManualClock
    ) -> None:
        tenant = await api.create_tenant()
        me = (await api.me(tenant.admin_token)).json()
        elsewhere = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "other")
        codec = JwtTokenCodec(
            elsewhere, issuer="bazaar", audience="bazaar-api", ttl_s=900, clock=clock
        )
        foreign = codec.issue(user_id=int(me["id"]), tenant_id=int(tenant.id), role=Role.ADMIN)
        assert_problem(await api.me(foreign.token), 401, "unauthenticated")

    async def test_garbage_is_refused(self, api: IdentityApi) -> None:
        assert_problem(await api.me("not-a-token"), 401, "unauthenticated")


class TestDefaultHashing:
    async def test_default_parameters_store_argon2id_and_log_in(self, open_app: AppFactory) -> None:
        async with open_app(cheap_hashing=False) as app:
            api = IdentityApi(app.client)
            tenant = await api.create_tenant()
            assert (await api.me(tenant.admin_token)).status_code == 200
            assert_problem(
                await api.login(tenant.id, "admin@acme.test", "wrong password!"),
                401,
                "unauthenticated",
            )
