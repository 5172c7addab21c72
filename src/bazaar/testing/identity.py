"""Identity over HTTP for tests of any context: a small client, fast hashing, problem checks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from bazaar.testing.app import AppHarness
from bazaar.testing.hashing import CHEAP_ARGON2

__all__ = [
    "CHEAP_ARGON2",
    "PASSWORD",
    "PROBLEM_BASE",
    "AppFactory",
    "IdentityApi",
    "Tenant",
    "assert_problem",
    "bearer",
]

AppFactory = Callable[..., AbstractAsyncContextManager[AppHarness]]

PASSWORD = "correct horse battery staple"
PROBLEM_BASE = "https://bazaar.dev/problems/"


@dataclass
class Tenant:
    id: str
    admin_token: str


class IdentityApi:
    """The identity endpoints as short calls, for tests that are about something else."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_tenant(self, name: str = "Acme") -> Tenant:
        response = await self.client.post(
            "/api/v1/tenants",
            json={"name": name, "admin_email": "admin@acme.test", "admin_password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        tenant_id = response.json()["id"]
        return Tenant(tenant_id, await self.access_token(tenant_id, "admin@acme.test"))

    async def register(
        self, tenant_id: str, email: str, *, role: str | None = None, token: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"tenant_id": tenant_id, "email": email, "password": PASSWORD}
        if role is not None:
            body["role"] = role
        return await self.client.post("/api/v1/auth/register", json=body, headers=bearer(token))

    async def login(self, tenant_id: str, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post(
            "/api/v1/auth/login",
            json={"tenant_id": tenant_id, "email": email, "password": password},
        )

    async def tokens(self, tenant_id: str, email: str) -> dict[str, Any]:
        response = await self.login(tenant_id, email)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def access_token(self, tenant_id: str, email: str) -> str:
        return str((await self.tokens(tenant_id, email))["access_token"])

    async def user_token(self, tenant_id: str, email: str, role: str, admin_token: str) -> str:
        response = await self.register(tenant_id, email, role=role, token=admin_token)
        assert response.status_code == 201, response.text
        return await self.access_token(tenant_id, email)

    async def me(self, token: str) -> httpx.Response:
        return await self.client.get("/api/v1/me", headers=bearer(token))


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"authorization": f"Bearer {token}"}


def assert_problem(
    response: httpx.Response, status: int, slug: str, *, field: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and type, carrying the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if field is not None:
        assert field in {e["field"] for e in body["errors"]}, body
    return body
