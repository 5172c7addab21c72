"""The pure rules of idempotency keys: key format, fingerprints, the decision table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.idempotency import (
    Decision,
    InvalidIdempotencyKeyError,
    KeyRecord,
    KeyState,
    StoredResponse,
    decide,
    fingerprint,
    validate_key,
)

NOW = 1_800_000_000.0


def record(state: KeyState, *, fp: str = "fp", locked_until: float = NOW + 10,
           expires_at: float = NOW + 100) -> KeyRecord:  # fmt: skip
    return KeyRecord(
        scope="s",
        key="k",
        fingerprint=fp,
        state=state,
        lock_token="t",
        locked_until=locked_until,
        expires_at=expires_at,
        response=StoredResponse(201, b"{}") if state is KeyState.COMPLETED else None,
    )


class TestValidateKey:
    @pytest.mark.parametrize("key", ["a", "order-2026-11-26#1", "x" * 255, " spaced ~"])
    def test_accepts_printable_ascii_up_to_255(self, key: str) -> None:
        assert validate_key(key) == key

    @pytest.mark.parametrize(
        ("key", "reason"),
        [(None, "missing"), ("", "missing"), ("x" * 256, "longer"), ("é", "ASCII"),
         ("tab\there", "ASCII")],
    )  # fmt: skip
    def test_refuses_anything_else(self, key: str | None, reason: str) -> None:
        with pytest.raises(InvalidIdempotencyKeyError, match=reason):
            validate_key(key)


class TestFingerprint:
    def test_ignores_key_order(self) -> None:
        a = fingerprint("POST", "/p", {"a": 1, "b": {"c": 2, "d": 3}})
        b = fingerprint("post", "/p", {"b": {"d": 3, "c": 2}, "a": 1})
        assert a == b

    def test_differs_by_body_path_and_method(self) -> None:
        base = fingerprint("POST", "/p", {"a": 1})
        assert base != fingerprint("POST", "/p", {"a": 2})
        assert base != fingerprint("POST", "/q", {"a": 1})
        assert base != fingerprint("PUT", "/p", {"a": 1})


class TestDecide:
    def test_no_record_proceeds(self) -> None:
        assert decide(None, "fp", NOW) is Decision.PROCEED

    def test_completed_with_same_request_replays(self) -> None:
        assert decide(record(KeyState.COMPLETED), "fp", NOW) is Decision.REPLAY

    def test_live_lock_is_in_flight(self) -> None:
        assert decide(record(KeyState.IN_FLIGHT), "fp", NOW) is Decision.IN_FLIGHT

    def test_stale_lock_proceeds(self) -> None:
        assert decide(record(KeyState.IN_FLIGHT, locked_until=NOW), "fp", NOW) is Decision.PROCEED

    def test_expired_record_proceeds_even_for_another_request(self) -> None:
        assert decide(record(KeyState.COMPLETED, expires_at=NOW), "other", NOW) is Decision.PROCEED

    @given(
        state=st.sampled_from(KeyState),
        locked_offset=st.floats(-100, 100),
        expires_offset=st.floats(0.001, 1000),
    )
    def test_a_different_request_on_a_live_record_is_always_a_mismatch(
        self, state: KeyState, locked_offset: float, expires_offset: float
    ) -> None:
        existing = record(state, locked_until=NOW + locked_offset, expires_at=NOW + expires_offset)
        assert decide(existing, "other-fp", NOW) is Decision.MISMATCH
