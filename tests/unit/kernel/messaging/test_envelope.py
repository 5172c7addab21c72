"""The envelope: round trip, and every way bytes can fail to be one (poison messages)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.messaging.envelope import MAX_ENVELOPE_BYTES, Envelope
from bazaar.kernel.messaging.errors import MalformedMessageError

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def an_envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "id": "42",
        "type": "payments.payment_succeeded",
        "version": 1,
        "key": "7",
        "occurred_at": AT,
        "payload": {"payment_id": 7, "amount": {"amount": "1.00", "currency": "EUR"}},
        "headers": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


class TestRoundTrip:
    def test_decode_of_encode_is_identity(self) -> None:
        envelope = an_envelope()
        assert Envelope.decode(envelope.encode()) == envelope

    def test_the_topic_is_the_first_part_of_the_type(self) -> None:
        assert an_envelope().topic == "payments"

    @given(
        key=st.text(max_size=50),
        payload=st.dictionaries(
            st.text(max_size=10), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10)
        ),
    )
    def test_any_key_and_payload_survive(self, key: str, payload: dict[str, object]) -> None:
        envelope = an_envelope(key=key, payload=payload)
        assert Envelope.decode(envelope.encode()) == envelope


def raw(**changes: object) -> bytes:
    data = orjson.loads(an_envelope().encode())
    for name, value in changes.items():
        if value is ...:
            del data[name]
        else:
            data[name] = value
    return orjson.dumps(data)


class TestPoison:
    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"not json", "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (raw(id=...), "missing id"),
            (raw(payload=...), "missing payload"),
            (raw(id=""), "id must be a non-empty string"),
            (raw(version=0), "version must be an integer >= 1"),
            (raw(version=True), "version must be an integer >= 1"),
            (raw(payload=[1]), "payload must be an object"),
            (raw(headers={"a": 1}), "headers must map names to strings"),
            (raw(occurred_at="yesterday"), "occurred_at must be an ISO 8601 timestamp"),
            (raw(occurred_at="2026-11-26T12:00:00"), "occurred_at must carry a UTC offset"),
        ],
    )
    def test_is_refused_with_a_reason(self, data: bytes, reason: str) -> None:
        with pytest.raises(MalformedMessageError) as caught:
            Envelope.decode(data)
        assert reason in caught.value.reason

    def test_an_oversized_message_is_refused_before_parsing(self) -> None:
        data = raw(payload={"blob": "x" * MAX_ENVELOPE_BYTES})
        with pytest.raises(MalformedMessageError, match="over"):
            Envelope.decode(data)
