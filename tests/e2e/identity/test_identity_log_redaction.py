"""No password, token or API key reaches the logs while the identity flows run."""

from __future__ import annotations

import io

from identity_http_support import PASSWORD, IdentityApi, bearer


class TestLogRedaction:
    async def test_identity_flows_log_no_secrets(
        self, api: IdentityApi, captured_logs: io.StringIO
    ) -> None:
        tenant = await api.create_tenant()
        await api.register(tenant.id, "c@acme.test")
        login = await api.tokens(tenant.id, "c@acme.test")
        refreshed = (
            await api.client.post(
                "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
            )
        ).json()
        replay = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
        )
        assert replay.status_code == 401
        assert (await api.me(refreshed["access_token"])).status_code == 200
        key = (
            await api.client.post(
                "/api/v1/api-keys",
                json={"name": "ci", "scopes": ["products:write"]},
                headers=bearer(tenant.admin_token),
            )
        ).json()
        assert (await api.client.get("/api/v1/me", headers={"x-api-key": key["key"]})).is_success
        await api.client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": refreshed["refresh_token"]},
            headers=bearer(refreshed["access_token"]),
        )

        output = captured_logs.getvalue()
        assert "identity.refresh_token_reuse_detected" in output
        assert "/api/v1/auth/login" in output
        secrets = {
            "password": PASSWORD,
            "admin token": tenant.admin_token,
            "access token": login["access_token"],
            "refresh token": login["refresh_token"],
            "rotated access token": refreshed["access_token"],
            "rotated refresh token": refreshed["refresh_token"],
            "api key": key["key"],
            # The part after "bz_live_<prefix>_"; the prefix alone is an identifier, not a secret.
            "api key secret": key["key"].removeprefix(f"bz_live_{key['prefix']}_"),
        }
        leaked = [name for name, value in secrets.items() if value in output]
        assert leaked == []
