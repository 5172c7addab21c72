"""Tour ``bulkhead``: a slow PSP fills only its own compartment; reads stay fast (§3.5)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO"]

SLOW_PAYMENTS = 40


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    auth = bearer((await story.new_customer(tenant))["token"])
    await client.put("/api/v1/admin/faults/psp", json={"latency_ms": 1500}, headers=admin)
    story.step("the PSP now takes 1.5 s per call")
    try:

        async def pay() -> int:
            response = await client.post(
                "/api/v1/payments",
                json={"amount": {"amount": "3.00", "currency": "EUR"}, "card_token": "tok_ok"},
                headers={**auth, "idempotency-key": f"tour-{uuid.uuid4()}"},
            )
            return response.status_code

        payments = [asyncio.create_task(pay()) for _ in range(SLOW_PAYMENTS)]
        await asyncio.sleep(0.3)
        read_ms = []
        for _ in range(20):
            started = time.perf_counter()
            me = await client.get("/api/v1/me", headers=auth)
            read_ms.append((time.perf_counter() - started) * 1000)
            if me.status_code != 200:
                story.check(False, f"GET /me answered {me.status_code}")
        statuses = await asyncio.gather(*payments)
    finally:
        await client.delete("/api/v1/admin/faults/psp", headers=admin)
    story.step(
        f"{SLOW_PAYMENTS} payments at once: {statuses.count(201)} completed, "
        f"{statuses.count(503)} refused with 503 once the PSP bulkhead's queue wait ran out"
    )
    story.step(
        f"meanwhile 20 × GET /me: median {statistics.median(read_ms):.1f} ms, "
        f"slowest {max(read_ms):.1f} ms"
    )
    story.check(
        max(read_ms) < 500,
        "payments waiting on the slow PSP do not hold the capacity reads need",
    )


SCENARIO = Scenario(
    name="bulkhead",
    concept="bulkheads",
    capability="§3.5",
    run=run,
)
