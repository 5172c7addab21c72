"""Tour ``deadline``: a request's budget caps every downstream call (§1.10, §4.1)."""

from __future__ import annotations

import time
import uuid

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO"]


async def run(story: Story) -> None:
    tenant = await story.create_tenant()
    auth = bearer((await story.new_customer(tenant))["token"])
    started = time.perf_counter()
    response = await story.client.post(
        "/api/v1/payments",
        json={"amount": {"amount": "5.00", "currency": "EUR"}, "card_token": "tok_slow"},
        headers={**auth, "idempotency-key": f"tour-{uuid.uuid4()}", "x-request-timeout": "0.8"},
    )
    elapsed = time.perf_counter() - started
    slug = response.json().get("type", "").rsplit("/", 1)[-1]
    story.step("the PSP answers tok_slow after 5 s; the client allows 0.8 s (X-Request-Timeout)")
    story.step(f"→ {response.status_code} {slug} after {elapsed:.2f} s")
    story.check(
        response.status_code in (503, 504) and elapsed < 1.5,
        "the request ends when its budget is spent instead of waiting for the slow call",
    )


SCENARIO = Scenario(
    name="deadline",
    concept="deadlines, timeouts per hop, cancellation",
    capability="§1.10, §4.1",
    run=run,
)
