"""The delivery body (built once, ids as strings), secrets, and which statuses replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bazaar.contexts.webhooks import SECRET_PREFIX, DeliveryStatus
from bazaar.contexts.webhooks.domain.model import event_body, new_secret

OCCURRED = datetime(2026, 1, 1, 12, tzinfo=UTC)


class TestEventBody:
    def body(self) -> dict[str, object]:
        raw = event_body(
            event_id="7300000000000000001",
            event_type="payments.payment_succeeded",
            version=1,
            occurred_at=OCCURRED,
            tenant_id=7300000000000000002,
            data={
                "tenant_id": 7300000000000000002,
                "payment_id": 7300000000000000003,
                "user_id": 42,
                "amount": {"amount": "12.00", "currency": "EUR"},
                "attempt": 3,
                "flag": True,
                "items": [{"id": 5, "quantity": 2}],
            },
        )
        decoded: dict[str, object] = json.loads(raw)
        return decoded

    def test_carries_the_event_with_its_metadata(self) -> None:
        body = self.body()
        assert body["id"] == "7300000000000000001"
        assert body["type"] == "payments.payment_succeeded"
        assert body["version"] == 1
        assert body["occurred_at"] == "2026-01-01T12:00:00+00:00"
        assert body["tenant_id"] == "7300000000000000002"

    def test_integer_ids_become_strings_and_nothing_else_changes(self) -> None:
        assert self.body()["data"] == {
            "tenant_id": "7300000000000000002",
            "payment_id": "7300000000000000003",
            "user_id": "42",
            "amount": {"amount": "12.00", "currency": "EUR"},
            "attempt": 3,
            "flag": True,
            "items": [{"id": "5", "quantity": 2}],
        }

    def test_is_compact_json(self) -> None:
        raw = event_body(
            event_id="1",
            event_type="orders.order_confirmed",
            version=2,
            occurred_at=OCCURRED,
            tenant_id=1,
            data={},
        )
        assert b" " not in raw


class TestSecrets:
    def test_are_prefixed_random_and_long(self) -> None:
        secrets = {new_secret() for _ in range(100)}
        assert len(secrets) == 100
        assert all(s.startswith(SECRET_PREFIX) and len(s) >= 40 for s in secrets)


def test_only_failed_and_abandoned_deliveries_replay() -> None:
    assert {s for s in DeliveryStatus if s.replayable} == {
        DeliveryStatus.FAILED,
        DeliveryStatus.ABANDONED,
    }
