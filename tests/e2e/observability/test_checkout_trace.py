"""§10.1 must-hold, with real processes: one checkout is one trace across every async hop.

``bazaar up --demo`` (API, saga supervisor, relay, consumers, PSP simulator) serves a
checkout that arrives with a caller's ``traceparent``; the trace store then holds one trace
with the HTTP server span, SQL statements, the PSP client call, the outbox write and the
consumers that handled its events, every span's parent inside the trace (or the caller's).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.testing.processes import BazaarProcess

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery staple"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


async def _shop(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    """A tenant with a product in stock, and a customer's authorization header."""
    tenant = (
        await client.post(
            "/api/v1/tenants",
            json={"name": "Traced", "admin_email": "admin@traced.test", "admin_password": PASSWORD},
        )
    ).json()
    login = {"tenant_id": tenant["id"], "email": "admin@traced.test", "password": PASSWORD}
    admin = (await client.post("/api/v1/auth/login", json=login)).json()["access_token"]
    product = await client.post(
        "/api/v1/products",
        json={
            "name": "Traced teapot",
            "price": {"amount": "19.90", "currency": "EUR"},
            "category": "kitchen",
            "stock": 5,
        },
        headers={"authorization": f"Bearer {admin}"},
    )
    assert product.status_code == 201, product.text
    customer = {"tenant_id": tenant["id"], "email": "c@traced.test", "password": PASSWORD}
    assert (await client.post("/api/v1/auth/register", json=customer)).status_code == 201
    token = (await client.post("/api/v1/auth/login", json=customer)).json()["access_token"]
    return {"authorization": f"Bearer {token}"}, product.json()["id"]


async def _until(
    client: httpx.AsyncClient,
    path: str,
    done: Any,
    *,
    headers: dict[str, str] | None = None,
    within_s: float = 30.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = await client.get(path, headers=headers)
        if last.status_code == 200 and done(last.json()):
            return dict(last.json())
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never got there: {last.text if last else 'no answer'}")


def _orphans(trace: dict[str, Any], caller_span_id: str) -> list[dict[str, Any]]:
    """Spans whose parent is neither in the trace nor the caller's span."""
    ids = {span["span_id"] for span in trace["spans"]} | {caller_span_id}
    return [span for span in trace["spans"] if span["parent_id"] not in ids]


def _settled(caller_span_id: str) -> Any:
    """A trace with a consumer span whose every parent has ended (spans are kept as they
    end, so a consumer still running shows its children before itself)."""

    def check(trace: dict[str, Any]) -> bool:
        consumed = any(span["kind"] == "consumer" for span in trace["spans"])
        return consumed and not _orphans(trace, caller_span_id)

    return check


async def test_a_checkout_is_one_trace_from_request_to_consumers(tmp_path: Path) -> None:
    caller_trace_id, caller_span_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{caller_trace_id}-{caller_span_id}-01"
    server = BazaarProcess(tmp_path / "data")
    try:
        server.wait_ready()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            auth, product_id = await _shop(client)
            placed = await client.post(
                "/api/v1/orders",
                json={
                    "items": [{"product_id": product_id, "quantity": 1}],
                    "payment": {"card_token": "tok_ok"},
                    "shipping_address": ADDRESS,
                },
                headers={**auth, "idempotency-key": "traced-1", "traceparent": traceparent},
            )
            assert placed.status_code == 202, placed.text
            answered = placed.headers["traceparent"].split("-")
            assert answered[1] == caller_trace_id
            assert answered[2] != caller_span_id

            await _until(
                client,
                f"/api/v1/orders/{placed.json()['id']}",
                lambda order: order["status"] == "completed",
                headers=auth,
            )
            trace = await _until(
                client, f"/api/v1/admin/traces/{caller_trace_id}", _settled(caller_span_id)
            )
    finally:
        server.close()

    spans = trace["spans"]
    kinds = {span["kind"] for span in spans}
    names = [span["name"] for span in spans]
    assert {"server", "client", "producer", "consumer"} <= kinds, names
    assert "POST /api/v1/orders" in names
    assert any(name.startswith("psp POST /v1/authorizations") for name in names), names
    assert any(name.startswith(("INSERT ", "UPDATE ", "SELECT ")) for name in names), names
    assert any(name == "outbox write" for name in names), names
    assert any(name == "saga checkout run authorize_payment" for name in names), names
    server_span = next(span for span in spans if span["name"] == "POST /api/v1/orders")
    assert server_span["parent_id"] == caller_span_id
    assert server_span["attributes"]["http.route"] == "/api/v1/orders"
    consumer = next(span for span in spans if span["kind"] == "consumer")
    producers = {span["span_id"] for span in spans if span["kind"] == "producer"}
    assert consumer["parent_id"] in producers
