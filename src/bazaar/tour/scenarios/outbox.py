"""Tour ``outbox``: an event committed while the broker is down is published once it is back.

The payment and its ``payments.payment_succeeded`` event commit in one transaction; with
the broker unreachable (an injected outage) the event waits in the outbox — visible as
``bazaar_outbox_pending`` — instead of being lost, and the relay publishes it when the
broker returns: one e-mail arrives (§6.1). A real SIGKILL between commit and publish is
shown by tests/integration/messaging/test_crash_recovery.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bazaar.tour.runner import Scenario, Story, bearer

__all__ = ["SCENARIO", "outbox_pending", "pay_when_psp_is_up", "wait_for_mail"]

DELIVERY_WITHIN_S = 20.0
PSP_RECOVERY_S = 15.0


async def wait_for_mail(
    story: Story, admin: dict[str, str], to: str, *, count: int = 1, within_s: float
) -> tuple[list[dict[str, Any]], float]:
    """Poll the mail sink until ``count`` e-mails to ``to`` arrived; (mails, seconds waited)."""
    started = time.perf_counter()
    mails: list[dict[str, Any]] = []
    while time.perf_counter() - started < within_s:
        response = await story.client.get("/api/v1/admin/mail", params={"to": to}, headers=admin)
        mails = list(response.json()) if response.status_code == 200 else []
        if len(mails) >= count:
            break
        await asyncio.sleep(0.1)
    return mails, time.perf_counter() - started


async def pay_when_psp_is_up(story: Story, auth: dict[str, str]) -> httpx.Response:
    """A successful payment; waits out a PSP breaker left open by an earlier scenario."""
    started = time.perf_counter()
    while True:
        response = await story.client.post(
            "/api/v1/payments",
            json={"amount": {"amount": "12.00", "currency": "EUR"}, "card_token": "tok_ok"},
            headers={**auth, "idempotency-key": f"tour-{uuid.uuid4()}"},
        )
        if response.status_code != 503 or time.perf_counter() - started > PSP_RECOVERY_S:
            return response
        await asyncio.sleep(min(2.0, float(response.headers.get("retry-after", "1"))))


async def outbox_pending(story: Story) -> float | None:
    metrics = (await story.client.get("/metrics")).text
    for line in metrics.splitlines():
        if line.startswith("bazaar_outbox_pending "):
            return float(line.split()[1])
    return None


async def run(story: Story) -> None:
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    customer = await story.new_customer(tenant)
    auth = bearer(customer["token"])

    outage = await client.put("/api/v1/admin/faults/broker", json={"outage": True}, headers=admin)
    story.step(f"PUT /admin/faults/broker {{outage: true}} → {outage.status_code}")
    story.check(outage.status_code == 200, "the broker is down")
    try:
        response = await pay_when_psp_is_up(story, auth)
        story.step(
            f"POST /payments → {response.status_code}: the payment and its event commit "
            "together; the relay cannot publish"
        )
        story.check(response.status_code == 201, "the payment succeeded without the broker")
        await asyncio.sleep(0.5)
        pending = await outbox_pending(story)
        mails, _ = await wait_for_mail(story, admin, customer["email"], within_s=0.1)
        story.step(f"/metrics bazaar_outbox_pending {pending}; e-mails so far: {len(mails)}")
        story.check(
            pending is not None and pending >= 1 and not mails,
            "the event waits in the outbox instead of being lost",
        )
    finally:
        cleared = await client.delete("/api/v1/admin/faults/broker", headers=admin)
        story.step(f"DELETE /admin/faults/broker → {cleared.status_code}: the broker is back")

    mails, waited = await wait_for_mail(story, admin, customer["email"], within_s=DELIVERY_WITHIN_S)
    story.step(
        f"relay → broker → notifications consumer → SMTP: {len(mails)} e-mail to "
        f"{customer['email']} {waited:.1f} s later"
    )
    story.check(len(mails) == 1, "the event was published and handled exactly once")
    if mails:
        story.step(f"subject {mails[0]['subject']!r}, Message-ID {mails[0]['message_id']}")
    pending = await outbox_pending(story)
    story.step(f"/metrics bazaar_outbox_pending {pending}")


SCENARIO = Scenario(
    name="outbox",
    concept="transactional outbox",
    capability="§6.1",
    run=run,
)
