"""Tour ``shedding``: over the in-flight bound, the excess gets a fast 503 (§3.4)."""

from __future__ import annotations

import asyncio
import time
import uuid

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO"]

BOUND = 4
OFFERED = 12


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    auth = bearer((await story.new_customer(tenant))["token"])
    before = (await client.get("/api/v1/admin/admission", headers=admin)).json()
    await client.put("/api/v1/admin/admission", json={"max_in_flight": BOUND}, headers=admin)
    await client.put("/api/v1/admin/faults/psp", json={"latency_ms": 1500}, headers=admin)
    story.step(f"in-flight bound lowered to {BOUND}; the PSP now takes 1.5 s per call")
    try:

        async def pay() -> tuple[int, float, str | None]:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/payments",
                json={"amount": {"amount": "3.00", "currency": "EUR"}, "card_token": "tok_ok"},
                headers={**auth, "idempotency-key": f"tour-{uuid.uuid4()}"},
            )
            elapsed = (time.perf_counter() - started) * 1000
            return response.status_code, elapsed, response.headers.get("retry-after")

        payments = [asyncio.create_task(pay()) for _ in range(OFFERED)]
        await asyncio.sleep(0.3)
        health = await client.get("/healthz")
        results = await asyncio.gather(*payments)
    finally:
        await client.delete("/api/v1/admin/faults/psp", headers=admin)
        await client.put(
            "/api/v1/admin/admission",
            json={"max_in_flight": before["max_in_flight"]},
            headers=admin,
        )
    shed = [(ms, retry) for status, ms, retry in results if status == 503]
    served = [ms for status, ms, _ in results if status == 201]
    story.step(
        f"{OFFERED} concurrent payments → {len(served)} served (slowest "
        f"{max(served, default=0):.0f} ms), {len(shed)} shed with 503"
    )
    if shed:
        story.step(f"the shed ones were answered in {max(ms for ms, _ in shed):.1f} ms at most")
    story.step(f"meanwhile GET /healthz → {health.status_code} (health checks are shed last)")
    story.check(
        len(served) <= BOUND and len(shed) >= OFFERED - BOUND and all(r for _, r in shed),
        "work over the bound is refused at once with Retry-After instead of queueing",
    )
    story.check(health.status_code == 200, "the process still answers its health check")


SCENARIO = Scenario(
    name="shedding",
    concept="backpressure and load shedding",
    capability="§3.4",
    run=run,
)
