"""GET /.well-known/jwks.json: the public keys, usable by a third party to verify tokens."""

from __future__ import annotations

import jwt
from identity_http_support import AppFactory, IdentityApi

from bazaar.kernel.clock import ManualClock


class TestJwks:
    async def test_lists_the_ed25519_key_and_tokens_verify_against_it(
        self, api: IdentityApi, clock: ManualClock
    ) -> None:
        response = await api.client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert "max-age" in response.headers["cache-control"]
        (jwk,) = response.json()["keys"]
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in jwk

        tenant = await api.create_tenant()
        assert jwt.get_unverified_header(tenant.admin_token)["kid"] == jwk["kid"]
        # Verified by PyJWT alone, as an API gateway would; PyJWT checks exp on the wall clock,
        # which is where the test clock started.
        claims = jwt.decode(
            tenant.admin_token,
            key=jwt.PyJWK(jwk),
            algorithms=["EdDSA"],
            audience="bazaar-api",
            issuer="bazaar",
        )
        assert claims["tid"] == tenant.id
        assert claims["roles"] == ["admin"]
        assert clock.now() < claims["exp"]

    async def test_a_shared_secret_publishes_no_keys(self, open_app: AppFactory) -> None:
        async with open_app(jwt_secret="s" * 48) as app:
            response = await app.client.get("/.well-known/jwks.json")
            assert response.json() == {"keys": []}
            tenant = await IdentityApi(app.client).create_tenant()
            assert jwt.get_unverified_header(tenant.admin_token)["alg"] == "HS256"
