"""Tour ``breaker``: PSP down → breaker opens → fail fast → half-open probe → closed (§4.3)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO"]

RECOVERY_WITHIN_S = 9.0


async def _pay(story: Story, auth: dict[str, str]) -> tuple[int, float, dict[str, Any]]:
    started = time.perf_counter()
    response = await story.client.post(
        "/api/v1/payments",
        json={"amount": {"amount": "5.00", "currency": "EUR"}, "card_token": "tok_ok"},
        headers={**auth, "idempotency-key": f"tour-{uuid.uuid4()}"},
    )
    return response.status_code, (time.perf_counter() - started) * 1000, response.json()


async def _psp_breaker(story: Story, admin: dict[str, str]) -> dict[str, Any]:
    response = await story.client.get("/api/v1/admin/breakers", headers=admin)
    (psp,) = [b for b in response.json() if b["name"] == "psp"]
    return dict(psp)


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    auth = bearer((await story.new_customer(tenant))["token"])

    status, ms, _ = await _pay(story, auth)
    story.step(f"PSP healthy: a payment → {status} in {ms:.0f} ms")
    await client.put("/api/v1/admin/faults/psp", json={"outage": True}, headers=admin)
    story.step("PSP down (fault injected: outage)")
    try:
        breaker: dict[str, Any] = {}
        for attempt in range(1, 21):
            await _pay(story, auth)
            breaker = await _psp_breaker(story, admin)
            if breaker["state"] == "open":
                story.step(
                    f"breaker opened after {attempt} failed payments "
                    f"(failure rate {breaker['failure_rate']:.0%} over {breaker['calls']} calls)"
                )
                break
        story.check(breaker["state"] == "open", "the breaker opens on a failing PSP")
        status, ms, body = await _pay(story, auth)
        story.step(f"checkout now fails fast: {status} in {ms:.1f} ms ({body.get('detail')})")
        story.check(status == 503, "an open breaker answers 503 at once, without calling the PSP")
    finally:
        await client.delete("/api/v1/admin/faults/psp", headers=admin)
    story.step("PSP recovered (fault cleared); waiting for the cooldown")
    deadline = time.monotonic() + RECOVERY_WITHIN_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status, ms, _ = await _pay(story, auth)
        if status == 201:
            breaker = await _psp_breaker(story, admin)
            story.step(f"half-open probe succeeded ({ms:.0f} ms) → breaker {breaker['state']}")
            story.check(breaker["state"] == "closed", "a successful probe closes the breaker")
            return
    story.check(False, f"the breaker closes within {RECOVERY_WITHIN_S:.0f} s of recovery")


SCENARIO = Scenario(
    name="breaker",
    concept="circuit breaker (closed / open / half-open)",
    capability="§4.3",
    run=run,
)
