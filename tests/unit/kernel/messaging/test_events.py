"""Domain events become envelopes with JSON-safe payloads and their aggregate as the key."""

from __future__ import annotations

from datetime import UTC, datetime

from bazaar.contexts.payments.domain.events import PaymentSucceeded
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.messaging.events import envelope_of
from bazaar.kernel.money import Money


def test_a_payment_event_is_keyed_by_its_payment() -> None:
    event = PaymentSucceeded(
        id=99,
        occurred_at=datetime(2026, 11, 26, tzinfo=UTC),
        tenant_id=1,
        payment_id=5,
        user_id=7,
        amount=Money.of("12.50", "EUR"),
    )
    envelope = envelope_of(event, {"request_id": "r1"})
    assert (envelope.id, envelope.type, envelope.version, envelope.key) == (
        "99",
        "payments.payment_succeeded",
        1,
        "5",
    )
    assert envelope.payload == {
        "tenant_id": 1,
        "payment_id": 5,
        "user_id": 7,
        "amount": {"amount": "12.50", "currency": "EUR"},
    }
    assert envelope.headers == {"request_id": "r1"}
    assert Envelope.decode(envelope.encode()) == envelope
