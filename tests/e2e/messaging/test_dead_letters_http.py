"""Dead letters end to end: SMTP down → retries → dead letter → fix → replay → sent once.

The worker runs in this process on the app's container (as ``bazaar up`` runs it), with a
recording mail sender instead of SMTP; the outage is injected through the ``smtp`` guard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bazaar.bootstrap import build_notifications, build_worker
from bazaar.contexts.notifications.adapters.memory import RecordingMailSender
from bazaar.kernel.messaging import Envelope, Record
from bazaar.kernel.resilience import FaultSpec
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import IdentityApi, assert_problem, bearer

pytestmark = pytest.mark.slow


@dataclass
class Running:
    harness: AppHarness
    sender: RecordingMailSender
    admin: dict[str, str]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_app(
        data_dir=tmp_path,
        demo=True,
        fast_password_hashing=True,
        jobs={"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
        breaker={"cooldown_s": 0.2},
        messaging={"relay_interval_s": 0.01},
    ) as harness:
        container = harness.container
        sender = RecordingMailSender()
        guard = container.dependencies.get("smtp")
        assert guard is not None
        worker = build_worker(
            container,
            notifications=build_notifications(
                container.settings,
                container.clock,
                identity=container.identity,
                guard=guard,
                sender=sender,
            ),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        tenant = await IdentityApi(harness.client).create_tenant()
        try:
            yield Running(harness, sender, bearer(tenant.admin_token))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def eventually(condition: Callable[[], Awaitable[bool]], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def payment_event(message_id: str) -> Envelope:
    return Envelope(
        id=message_id,
        type="payments.payment_succeeded",
        version=1,
        key="42",
        occurred_at=datetime.now(tz=UTC),
        payload={
            "tenant_id": 1,
            "payment_id": 42,
            "user_id": 7,
            "email": "buyer@example.test",
            "amount": {"amount": "9.99", "currency": "EUR"},
        },
    )


class TestDeadLetters:
    async def test_outage_dead_letters_then_a_replay_sends_exactly_once(
        self, running: Running
    ) -> None:
        client, container = running.harness.client, running.harness.container
        guard = container.dependencies.get("smtp")
        assert guard is not None
        guard.faults.set(FaultSpec(outage=True))
        event = payment_event("9001")
        await container.messaging.broker.publish("payments", [Record(event.key, event.encode())])

        async def one_letter() -> bool:
            response = await client.get("/api/v1/admin/dlq", headers=running.admin)
            return response.status_code == 200 and len(response.json()["items"]) == 1

        await eventually(one_letter)
        page = (await client.get("/api/v1/admin/dlq", headers=running.admin)).json()
        assert page["next_cursor"] is None
        (letter,) = page["items"]
        assert letter["consumer"] == "notifications"
        assert letter["message_id"] == "9001"
        assert letter["reason"] == "exhausted"
        assert letter["attempts"] == 2
        assert letter["replayed_at"] is None
        assert running.sender.sent == []

        shown = await client.get(f"/api/v1/admin/dlq/{letter['id']}", headers=running.admin)
        assert shown.status_code == 200
        assert shown.json()["message"]["payload"]["email"] == "buyer@example.test"

        guard.faults.clear()
        replay = await client.post(
            f"/api/v1/admin/dlq/{letter['id']}/replay", headers=running.admin
        )
        assert replay.status_code == 202
        assert replay.json()["replays"] == 1

        async def sent() -> bool:
            return len(running.sender.sent) == 1

        await eventually(sent)
        assert running.sender.sent[0].to == "buyer@example.test"

        # A second replay reaches the consumer again; its inbox knows the id: no second e-mail.
        again = await client.post(f"/api/v1/admin/dlq/{letter['id']}/replay", headers=running.admin)
        assert again.json()["replays"] == 2

        async def drained() -> bool:
            return await container.messaging.broker.backlog("payments", "notifications") == 0

        await eventually(drained)
        assert len(running.sender.sent) == 1

    async def test_poison_bytes_are_dead_lettered_and_shown_as_text(self, running: Running) -> None:
        client, container = running.harness.client, running.harness.container
        await container.messaging.broker.publish("payments", [Record("k", b"\xffnot an envelope")])

        async def letters() -> bool:
            response = await client.get(
                "/api/v1/admin/dlq", params={"consumer": "notifications"}, headers=running.admin
            )
            return len(response.json()["items"]) == 1

        await eventually(letters)
        (letter,) = (
            await client.get(
                "/api/v1/admin/dlq", params={"consumer": "notifications"}, headers=running.admin
            )
        ).json()["items"]
        assert (letter["reason"], letter["message_id"], letter["attempts"]) == (
            "malformed",
            None,
            0,
        )
        shown = await client.get(f"/api/v1/admin/dlq/{letter['id']}", headers=running.admin)
        assert "not an envelope" in shown.json()["message"]


class TestPaging:
    async def test_pages_newest_first_with_a_cursor(self, running: Running) -> None:
        client, container = running.harness.client, running.harness.container
        await container.messaging.broker.publish(
            "payments", [Record("k", f"poison {n}".encode()) for n in range(5)]
        )

        async def five() -> bool:
            page = await client.get(
                "/api/v1/admin/dlq", params={"limit": 200}, headers=running.admin
            )
            return len(page.json()["items"]) == 5

        await eventually(five)
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (
                await client.get("/api/v1/admin/dlq", params=params, headers=running.admin)
            ).json()
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5
        assert seen == sorted(seen, key=int, reverse=True)

    async def test_a_malformed_cursor_is_a_validation_problem(self, running: Running) -> None:
        response = await running.harness.client.get(
            "/api/v1/admin/dlq", params={"cursor": "x'; drop"}, headers=running.admin
        )
        assert_problem(response, 422, "validation")


class TestAccess:
    async def test_unknown_ids_are_404_problems(self, running: Running) -> None:
        client = running.harness.client
        for path in ("/api/v1/admin/dlq/123", "/api/v1/admin/dlq/abc"):
            assert_problem(await client.get(path, headers=running.admin), 404, "not-found")
        assert_problem(
            await client.post("/api/v1/admin/dlq/123/replay", headers=running.admin),
            404,
            "not-found",
        )

    async def test_anonymous_callers_are_refused(self, running: Running) -> None:
        assert_problem(
            await running.harness.client.get("/api/v1/admin/dlq"), 401, "unauthenticated"
        )

    async def test_a_bad_limit_is_a_validation_problem(self, running: Running) -> None:
        response = await running.harness.client.get(
            "/api/v1/admin/dlq", params={"limit": 0}, headers=running.admin
        )
        assert_problem(response, 422, "validation")
