"""Tours ``dlq`` and ``dedupe``: SMTP down → retries → dead letter → fix → replay → once.

``dlq`` (§6.4): with the ``smtp`` dependency down, the notifications consumer retries the
payment's e-mail with backoff (pausing while the breaker is open), then dead-letters it
with the error and the attempts; once SMTP is back, a replay delivers it.
``dedupe`` (§6.3): the same message delivered three more times (replays) sends no second
e-mail — the consumer's inbox knows its id.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bazaar.tour.runner import Scenario, Story, bearer
from bazaar.tour.scenarios.outbox import pay_when_psp_is_up, wait_for_mail

__all__ = ["DEDUPE", "DLQ"]

DEAD_LETTER_WITHIN_S = 90.0


async def _dead_lettered_payment(story: Story) -> tuple[dict[str, str], dict[str, Any], str]:
    """A payment whose e-mail was dead-lettered during an SMTP outage; SMTP is back after."""
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    customer = await story.new_customer(tenant)
    down = await client.put("/api/v1/admin/faults/smtp", json={"outage": True}, headers=admin)
    story.step(f"PUT /admin/faults/smtp {{outage: true}} → {down.status_code}")
    try:
        payment = await pay_when_psp_is_up(story, bearer(customer["token"]))
        story.check(payment.status_code == 201, "the payment succeeds while SMTP is down")
        # The notification's message id is the event id, which the API does not expose:
        # find the newest dead letter of this payment instead.
        payment_id = str(payment.json()["id"])
        letter = None
        started = time.perf_counter()
        while letter is None and time.perf_counter() - started < DEAD_LETTER_WITHIN_S:
            response = await client.get(
                "/api/v1/admin/dlq", params={"consumer": "notifications"}, headers=admin
            )
            page = response.json() if response.status_code == 200 else {"items": []}
            for candidate in page["items"]:
                shown = await client.get(f"/api/v1/admin/dlq/{candidate['id']}", headers=admin)
                message = shown.json().get("message")
                if (
                    isinstance(message, dict)
                    and str(message.get("payload", {}).get("payment_id")) == payment_id
                ):
                    letter = dict(shown.json())
                    break
            else:
                await asyncio.sleep(0.5)
        waited = time.perf_counter() - started
        story.step(
            f"notifications retried with backoff, then dead-lettered after {waited:.1f} s"
            + (
                f": reason {letter['reason']}, {letter['attempts']} attempts, "
                f"error {letter['error'][:60]!r}"
                if letter
                else ""
            )
        )
        story.check(letter is not None, "the failing e-mail became a dead letter")
    finally:
        up = await client.delete("/api/v1/admin/faults/smtp", headers=admin)
        story.step(f"DELETE /admin/faults/smtp → {up.status_code}: SMTP is back")
    assert letter is not None
    return admin, letter, customer["email"]


async def _notifications_drained(story: Story, within_s: float) -> bool:
    """Wait until ``bazaar_consumer_lag{consumer="notifications"}`` reads 0."""
    started = time.perf_counter()
    while time.perf_counter() - started < within_s:
        metrics = (await story.client.get("/metrics")).text
        for line in metrics.splitlines():
            name = 'bazaar_consumer_lag{consumer="notifications"}'
            if line.startswith(name) and float(line.split()[-1]) == 0:
                return True
        await asyncio.sleep(0.2)
    return False


async def run_dlq(story: Story) -> None:
    admin, letter, email = await _dead_lettered_payment(story)
    mails, _ = await wait_for_mail(story, admin, email, within_s=0.1)
    story.check(not mails, "nothing was sent while SMTP was down")
    replay = await story.client.post(f"/api/v1/admin/dlq/{letter['id']}/replay", headers=admin)
    story.step(f"POST /admin/dlq/{letter['id']}/replay → {replay.status_code}")
    story.check(replay.status_code == 202, "the dead letter was published again")
    mails, waited = await wait_for_mail(story, admin, email, within_s=20.0)
    story.step(f"{len(mails)} e-mail to {email} {waited:.1f} s after the replay")
    story.check(len(mails) == 1, "the replayed message was delivered exactly once")


async def run_dedupe(story: Story) -> None:
    admin, letter, email = await _dead_lettered_payment(story)
    for n in range(3):
        replay = await story.client.post(f"/api/v1/admin/dlq/{letter['id']}/replay", headers=admin)
        story.check(replay.status_code == 202, f"replay {n + 1} accepted")
    story.step("the same message was published three more times (three replays)")
    await wait_for_mail(story, admin, email, within_s=20.0)
    drained = await _notifications_drained(story, within_s=20.0)
    story.check(drained, "the notifications consumer took every replay")
    mails, _ = await wait_for_mail(story, admin, email, count=2, within_s=0.1)
    story.step(f"e-mails to {email}: {len(mails)}")
    story.check(len(mails) == 1, "three deliveries, one effect: the inbox absorbed the rest")


DLQ = Scenario(
    name="dlq", concept="dead-letter queues, poison messages", capability="§6.4", run=run_dlq
)
DEDUPE = Scenario(
    name="dedupe",
    concept="inbox / deduplication / at-least-once → exactly-once effects",
    capability="§6.3",
    run=run_dedupe,
)
