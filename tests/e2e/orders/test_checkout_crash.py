"""R3 with real processes: ``kill -9`` of ``bazaar up`` in the middle of 100 checkouts.

After a restart on the same data dir every order ends (completed, or cancelled with a
reason), stock is conserved, no saga is left running, and each completed order got exactly
one confirmation e-mail.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from orders_http_support import ADDRESS

from bazaar.testing.processes import BazaarProcess

ORDERS = 100
STOCK = 60
TERMINAL = {"completed", "cancelled", "needs_attention"}

pytestmark = pytest.mark.timeout(240)


async def _setup(client: httpx.AsyncClient) -> tuple[dict[str, str], str, str]:
    email, password = "crash-customer@acme.test", "correct horse battery staple"
    tenant = (
        await client.post(
            "/api/v1/tenants",
            json={"name": "Crash", "admin_email": "admin@crash.test", "admin_password": password},
        )
    ).json()
    login = {"tenant_id": tenant["id"], "email": "admin@crash.test", "password": password}
    admin = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
    product = await client.post(
        "/api/v1/products",
        json={
            "name": "Crash teapot",
            "price": {"amount": "9.99", "currency": "EUR"},
            "category": "kitchen",
            "stock": STOCK,
        },
        headers={"authorization": f"Bearer {admin}"},
    )
    assert product.status_code == 201, product.text
    registered = await client.post(
        "/api/v1/auth/register",
        json={"tenant_id": tenant["id"], "email": email, "password": password},
    )
    assert registered.status_code == 201, registered.text
    login = {"tenant_id": tenant["id"], "email": email, "password": password}
    token = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
    return {"authorization": f"Bearer {token}"}, product.json()["id"], email


def _body(product_id: str) -> dict[str, Any]:
    return {
        "items": [{"product_id": product_id, "quantity": 1}],
        "payment": {"card_token": "tok_ok"},
        "shipping_address": ADDRESS,
    }


class TestKillDuringCheckouts:
    async def test_every_order_ends_and_stock_is_conserved_after_kill_9(
        self, tmp_path: Path
    ) -> None:
        data_dir = tmp_path / "data"
        first = BazaarProcess(data_dir)
        try:
            first.wait_ready()
            async with httpx.AsyncClient(base_url=first.base_url, timeout=30) as client:
                auth, product_id, email = await _setup(client)
                accepted: dict[int, str] = {}
                third_accepted = asyncio.Event()
                gate = asyncio.Semaphore(8)

                async def place(n: int) -> None:
                    async with gate:
                        try:
                            response = await client.post(
                                "/api/v1/orders",
                                json=_body(product_id),
                                headers={**auth, "idempotency-key": f"crash-{n}"},
                            )
                        except httpx.TransportError:
                            return
                        if response.status_code == 202:
                            accepted[n] = response.json()["id"]
                            if len(accepted) >= ORDERS // 3:
                                third_accepted.set()

                tasks = [asyncio.create_task(place(n)) for n in range(ORDERS)]
                await third_accepted.wait()
                first.process.kill()  # SIGKILL: no drain, no lease handed back
                first.process.wait()
                await asyncio.gather(*tasks)
        finally:
            first.close()
        assert len(accepted) < ORDERS, "the kill came too late to interrupt anything"

        second = BazaarProcess(data_dir)
        try:
            second.wait_ready()
            restarted = time.monotonic()
            async with httpx.AsyncClient(base_url=second.base_url, timeout=30) as client:
                # The client retries what got no answer, with the same keys: replays or
                # first placements, never a second order for one key.
                for n in range(ORDERS):
                    response = await _place_until_answered(client, auth, product_id, n)
                    assert response.status_code == 202, response.text
                    if n in accepted:
                        assert response.json()["id"] == accepted[n]
                    accepted[n] = response.json()["id"]

                orders = await _all_terminal(client, auth, list(accepted.values()), restarted)
                completed = [o for o in orders if o["status"] == "completed"]
                cancelled = [o for o in orders if o["status"] == "cancelled"]
                assert len(completed) + len(cancelled) == ORDERS
                assert len(completed) == STOCK
                assert {o["failure_reason"] for o in cancelled} == {"out_of_stock"}
                assert all(o["saga"]["state"] in {"completed", "compensated"} for o in orders)

                product = (await client.get(f"/api/v1/products/{product_id}", headers=auth)).json()
                sold = sum(o["items"][0]["quantity"] for o in completed)
                assert product["stock"]["reserved"] == 0
                assert product["stock"]["available"] + sold == STOCK

                mails = await _confirmations(client, email, expected=len(completed))
                assert len(mails) == len(completed)
                assert len({m["message_id"] for m in mails}) == len(mails)
        finally:
            second.close()


async def _place_until_answered(
    client: httpx.AsyncClient, auth: dict[str, str], product_id: str, n: int
) -> httpx.Response:
    """Place order ``n`` with its key; a key the killed process left in flight answers 409
    with Retry-After until its lock (the request deadline + 5 s) runs out."""
    deadline = time.monotonic() + 30
    while True:
        response = await client.post(
            "/api/v1/orders",
            json=_body(product_id),
            headers={**auth, "idempotency-key": f"crash-{n}"},
        )
        if response.status_code != 409 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(float(response.headers["retry-after"]))


async def _all_terminal(
    client: httpx.AsyncClient, auth: dict[str, str], ids: list[str], since: float
) -> list[dict[str, Any]]:
    """Every order, once each is terminal; fails if that takes more than 60 s (R3)."""
    done: dict[str, dict[str, Any]] = {}
    while True:
        for order_id in ids:
            if order_id in done:
                continue
            order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
            if order["status"] in TERMINAL:
                done[order_id] = order
        if len(done) == len(ids):
            return list(done.values())
        pending = [i for i in ids if i not in done]
        assert time.monotonic() - since < 60, f"{len(pending)} orders not terminal after 60 s"
        await asyncio.sleep(0.5)


async def _confirmations(
    client: httpx.AsyncClient, email: str, *, expected: int
) -> list[dict[str, Any]]:
    """The order confirmations the mail sink holds, once ``expected`` arrived (or 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        mails = [
            m
            for m in (await client.get("/api/v1/admin/mail", params={"to": email})).json()
            if m["subject"] == "Order confirmed"
        ]
        if len(mails) >= expected or time.monotonic() > deadline:
            # A moment more: a duplicate would arrive after the last original.
            await asyncio.sleep(1.0)
            return [
                m
                for m in (await client.get("/api/v1/admin/mail", params={"to": email})).json()
                if m["subject"] == "Order confirmed"
            ]
        await asyncio.sleep(0.5)
