"""Tour ``idempotency``: one Idempotency-Key, one payment, however often it is sent (§5.4)."""

from __future__ import annotations

import asyncio
import uuid

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO"]


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    customer = await story.new_customer(tenant)
    auth = bearer(customer["token"])
    key = f"tour-{uuid.uuid4()}"
    body = {"amount": {"amount": "19.99", "currency": "EUR"}, "card_token": "tok_ok"}

    first = await client.post(
        "/api/v1/payments", json=body, headers={**auth, "idempotency-key": key}
    )
    story.step(f"POST /payments with Idempotency-Key {key[:13]}… → {first.status_code}")
    story.check(first.status_code == 201, "the first request creates the payment")
    payment = first.json()

    again = await client.post(
        "/api/v1/payments", json=body, headers={**auth, "idempotency-key": key}
    )
    story.step(
        f"the same request again → {again.status_code}, "
        f"Idempotent-Replayed: {again.headers.get('idempotent-replayed')}"
    )
    story.check(
        again.status_code == 201
        and again.headers.get("idempotent-replayed") == "true"
        and again.json() == payment,
        "a retry replays the stored answer byte for byte instead of charging again",
    )

    other = {**body, "amount": {"amount": "99.00", "currency": "EUR"}}
    reused = await client.post(
        "/api/v1/payments", json=other, headers={**auth, "idempotency-key": key}
    )
    story.step(f"the same key with another amount → {reused.status_code}")
    story.check(reused.status_code == 422, "a key cannot be reused for a different request")

    burst_key = f"tour-{uuid.uuid4()}"
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/payments", json=body, headers={**auth, "idempotency-key": burst_key}
            )
            for _ in range(20)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    story.step(
        f"20 concurrent requests with one new key → {statuses.count(201)}×201, "
        f"{statuses.count(409)}×409 (in flight, Retry-After: 1)"
    )
    story.check(
        len(ids) == 1 and set(statuses) <= {201, 409},
        "exactly one payment exists for the key; duplicates in flight are told to retry",
    )


SCENARIO = Scenario(
    name="idempotency",
    concept="idempotency keys, exactly-once effects on retries",
    capability="§5.4",
    run=run,
)
