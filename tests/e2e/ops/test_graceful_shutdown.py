"""R10: SIGTERM under load lets every in-flight request finish, then exits 0."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from bazaar.testing.processes import BazaarProcess

pytestmark = pytest.mark.slow

IN_FLIGHT = 8


class TestGracefulShutdown:
    async def test_in_flight_requests_finish_after_sigterm(self, tmp_path: Path) -> None:
        bazaar = await asyncio.to_thread(BazaarProcess, tmp_path, "--set", "log_level=warning")
        try:
            await asyncio.to_thread(bazaar.wait_ready)
            async with httpx.AsyncClient(base_url=bazaar.base_url, timeout=30) as client:
                token = await _customer_token(client)
                # Every payment now spends 1.5 s inside the PSP guard: long enough to be in
                # flight when the signal arrives.
                fault = await client.put("/api/v1/admin/faults/psp", json={"latency_ms": 1500})
                assert fault.status_code == 200
                payments = [asyncio.create_task(_pay(client, token)) for _ in range(IN_FLIGHT)]
                await _until_in_flight(client, IN_FLIGHT)
                exit_code = asyncio.create_task(asyncio.to_thread(bazaar.terminate))
                statuses = await asyncio.gather(*payments)
            assert statuses == [201] * IN_FLIGHT
            assert await exit_code == 0
        finally:
            await asyncio.to_thread(bazaar.close)


async def _until_in_flight(client: httpx.AsyncClient, count: int) -> None:
    """Wait until the server holds ``count`` requests (plus this probe), not a guessed time."""
    for _ in range(400):
        admission = (await client.get("/api/v1/admin/admission")).json()
        if admission["in_flight"] >= count + 1:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the payments never were all in flight: {admission}")


async def _customer_token(client: httpx.AsyncClient) -> str:
    password = "graceful-shutdown-password"
    tenant = await client.post(
        "/api/v1/tenants",
        json={"name": "Drain", "admin_email": "admin@drain.test", "admin_password": password},
    )
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    body = {"tenant_id": tenant_id, "email": "c@drain.test", "password": password}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    login = await client.post("/api/v1/auth/login", json=body)
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


async def _pay(client: httpx.AsyncClient, token: str) -> int:
    response = await client.post(
        "/api/v1/payments",
        json={"amount": {"amount": "4.20", "currency": "EUR"}, "card_token": "tok_ok"},
        headers={"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())},
    )
    return response.status_code
