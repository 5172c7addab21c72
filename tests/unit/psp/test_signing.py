"""``bazaar.psp.signing``: the Psp-Signature header bazaar's webhook endpoint verifies."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.psp.errors import SignatureError, SignatureFailure
from bazaar.psp.signing import compute_signature, sign, verify

SECRET = "whsec_unit"
BODY = b'{"id":"evt_1","type":"authorization.created","data":{}}'
T = 1_700_000_000


def failure(header: str | None, body: bytes = BODY, now: float = T, secret: str = SECRET) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(secret, header, body, now)
    return caught.value.reason


class TestSign:
    def test_header_carries_the_timestamp_and_the_hex_hmac_of_timestamp_dot_body(self) -> None:
        expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
        assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"
        assert compute_signature(SECRET, BODY, T) == expected

    def test_a_different_timestamp_gives_a_different_signature(self) -> None:
        assert compute_signature(SECRET, BODY, T) != compute_signature(SECRET, BODY, T + 1)


class TestVerify:
    def test_accepts_what_sign_produced(self) -> None:
        verify(SECRET, sign(SECRET, BODY, T), BODY, now=T)

    def test_rejects_a_tampered_body(self) -> None:
        header = sign(SECRET, BODY, T)
        assert failure(header, body=BODY.replace(b"created", b"voided")) == "bad_signature"

    def test_rejects_a_signature_made_with_another_secret(self) -> None:
        assert failure(sign("whsec_other", BODY, T)) is SignatureFailure.BAD_SIGNATURE

    def test_rejects_a_timestamp_changed_after_signing(self) -> None:
        signature = compute_signature(SECRET, BODY, T)
        assert failure(f"t={T + 1},v1={signature}", now=T + 1) == "bad_signature"

    @pytest.mark.parametrize("age_s", [301, 3600, -301, -3600])
    def test_rejects_timestamps_outside_the_tolerance(self, age_s: int) -> None:
        header = sign(SECRET, BODY, T)
        assert failure(header, now=T + age_s) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE

    @pytest.mark.parametrize("age_s", [300, -300, 0])
    def test_accepts_timestamps_at_the_edge_of_the_tolerance(self, age_s: int) -> None:
        verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + age_s)

    def test_honours_a_custom_tolerance(self) -> None:
        with pytest.raises(SignatureError):
            verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + 11, tolerance_s=10)

    @pytest.mark.parametrize("header", [None, "", "   "])
    def test_a_missing_header_is_its_own_reason(self, header: str | None) -> None:
        assert failure(header) is SignatureFailure.MISSING_HEADER

    @pytest.mark.parametrize(
        "header",
        [
            "garbage",
            f"v1={'0' * 64}",  # no t
            f"t={T}",  # no v1
            f"t=abc,v1={'0' * 64}",
            f"t=-5,v1={'0' * 64}",
            f"t=,v1={'0' * 64}",
            f"t={T},t={T},v1={'0' * 64}",
            f"t=１２３,v1={'0' * 64}",  # non-ASCII digits
            f"t={T},v1=é{'0' * 63}",
            f"t={T},,v1={'0' * 64}",
            f"t={T},v1={'0' * 5000}",
        ],
    )
    def test_malformed_headers_are_refused_as_malformed(self, header: str) -> None:
        assert failure(header) is SignatureFailure.MALFORMED_HEADER

    def test_one_matching_v1_among_several_is_enough_for_secret_rotation(self) -> None:
        good = compute_signature(SECRET, BODY, T)
        verify(SECRET, f"t={T},v1={'0' * 64},v1={good}", BODY, now=T)

    def test_other_schemes_are_ignored(self) -> None:
        header = f"{sign(SECRET, BODY, T)},v0=legacy"
        verify(SECRET, header, BODY, now=T)

    def test_tolerates_spaces_around_elements(self) -> None:
        header = sign(SECRET, BODY, T).replace(",", ", ")
        verify(SECRET, header, BODY, now=T)

    def test_the_error_names_its_reason(self) -> None:
        with pytest.raises(SignatureError) as caught:
            verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + 1000)
        assert caught.value.reason is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE
        assert "timestamp_out_of_tolerance" in str(caught.value)


class TestSigningProperties:
    @given(
        body=st.binary(max_size=2048),
        secret=st.text(min_size=1, max_size=64),
        timestamp=st.integers(min_value=0, max_value=2**40),
    )
    def test_every_signed_body_verifies(self, body: bytes, secret: str, timestamp: int) -> None:
        verify(secret, sign(secret, body, timestamp), body, now=timestamp)

    @given(
        body=st.binary(min_size=1, max_size=512),
        index=st.integers(min_value=0),
        flip=st.integers(min_value=1, max_value=255),
    )
    def test_any_changed_byte_fails(self, body: bytes, index: int, flip: int) -> None:
        position = index % len(body)
        tampered = bytearray(body)
        tampered[position] ^= flip
        with pytest.raises(SignatureError) as caught:
            verify(SECRET, sign(SECRET, body, T), bytes(tampered), now=T)
        assert caught.value.reason is SignatureFailure.BAD_SIGNATURE
