"""Tour ``identity``: JWT access tokens, refresh rotation, reuse detection, revocation (§2.2)."""

from __future__ import annotations

import base64
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson

from bazaar.tour.runner import Scenario, Story

__all__ = ["SCENARIO"]


@asynccontextmanager
async def _failing_client(story: Story) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the wrong logins: failed logins count against the caller's address for
    15 minutes (login throttling, §2.6), so on a local system they come from a loopback
    address of their own, and running the tour again and again never locks 127.0.0.1 out."""
    url = story.client.base_url
    if url.host != "127.0.0.1":
        yield story.client
        return
    address = f"127.0.0.{random.Random(os.urandom(8)).randrange(2, 255)}"
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        base_url=url, timeout=story.config.timeout_s, transport=transport
    ) as client:
        yield client


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    data: dict[str, object] = orjson.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return data


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    story.step(f"created tenant {tenant['id']} with its first admin")

    email = f"{story.unique('customer')}@tour.example"
    password = "correct horse battery staple"
    response = await client.post(
        "/api/v1/auth/register",
        json={"tenant_id": tenant["id"], "email": email, "password": password},
    )
    story.check(response.status_code == 201, "a customer registers (201)")
    credentials = {"tenant_id": tenant["id"], "email": email}

    async with _failing_client(story) as failing:
        wrong = await failing.post("/api/v1/auth/login", json={**credentials, "password": "x" * 12})
        unknown = await failing.post(
            "/api/v1/auth/login",
            json={**credentials, "email": "nobody@tour.example", "password": password},
        )
    story.step(f"wrong password → {wrong.status_code}; unknown e-mail → {unknown.status_code}")
    story.check(
        wrong.status_code == unknown.status_code == 401
        and wrong.json()["detail"] == unknown.json()["detail"],
        "login errors never say which of e-mail or password was wrong",
    )

    login = await client.post("/api/v1/auth/login", json={**credentials, "password": password})
    pair = login.json()
    claims = _claims(pair["access_token"])
    story.step(
        f"login → access token (JWT, expires in {pair['expires_in']} s, claims "
        f"{', '.join(sorted(claims))}) + opaque refresh token"
    )
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    me = await client.get("/api/v1/me", headers=bearer)
    story.check(me.status_code == 200 and me.json()["email"] == email, "GET /me with the token")

    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    new_pair = rotated.json()
    story.step("refresh → a new pair; the old refresh token is now spent (rotation)")
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    story.step(f"replaying the spent refresh token (a thief's copy) → {replay.status_code}")
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": new_pair["refresh_token"]}
    )
    story.step(f"the legitimate newest refresh token after the replay → {after.status_code}")
    story.check(
        rotated.status_code == 200 and replay.status_code == 401 and after.status_code == 401,
        "reuse of a rotated refresh token revokes the whole token family",
    )

    login = await client.post("/api/v1/auth/login", json={**credentials, "password": password})
    pair = login.json()
    bearer = {"authorization": f"Bearer {pair['access_token']}"}
    logout = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=bearer
    )
    again = await client.get("/api/v1/me", headers=bearer)
    story.step(f"logout → {logout.status_code}; the same access token on /me → {again.status_code}")
    story.check(
        logout.status_code == 204 and again.status_code == 401,
        "logout revokes the access token by its jti before it expires",
    )

    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    forged = f"{header}.{pair['access_token'].split('.')[1]}."
    response = await client.get("/api/v1/me", headers={"authorization": f"Bearer {forged}"})
    story.step(f"a token re-signed with alg:none → {response.status_code}")
    story.check(response.status_code == 401, "the signing algorithm is pinned (no alg:none)")


SCENARIO = Scenario(
    name="identity",
    concept="authentication: JWT, refresh rotation, revocation",
    capability="§2.2",
    run=run,
)
