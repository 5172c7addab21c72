"""``Bazaar-Signature``: what ``sign`` produces and everything ``verify`` refuses."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bazaar.contexts.webhooks import (
    InvalidSignatureError,
    SignatureFailure,
    compute_signature,
    sign,
    verify,
)
from bazaar.kernel.clock import ManualClock

SECRET = "whsec_test-secret"
BODY = b'{"id":"1","type":"payments.payment_succeeded"}'
T = 1_800_000_000


class TestSign:
    def test_is_the_hmac_sha256_of_timestamp_dot_body(self) -> None:
        expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
        assert compute_signature(SECRET, T, BODY) == expected
        assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"

    def test_depends_on_secret_timestamp_and_every_byte(self) -> None:
        base = sign(SECRET, T, BODY)
        assert sign("whsec_other", T, BODY) != base
        assert sign(SECRET, T + 1, BODY) != base
        assert sign(SECRET, T, BODY + b" ") != base


class TestVerify:
    def test_accepts_its_own_signature_and_returns_the_timestamp(self) -> None:
        assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T) == T

    @pytest.mark.parametrize("skew", [-300, 300, -1, 120])
    def test_accepts_timestamps_within_five_minutes(self, skew: int) -> None:
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + skew)

    @pytest.mark.parametrize("skew", [-301, 301, 3600])
    def test_refuses_timestamps_beyond_five_minutes(self, skew: int) -> None:
        with pytest.raises(InvalidSignatureError) as caught:
            verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + skew)
        assert caught.value.failure is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE

    def test_tolerance_follows_the_receivers_clock(self) -> None:
        clock = ManualClock(start=T)
        header = sign(SECRET, int(clock.now()), BODY)
        clock.advance(299)
        verify(SECRET, header, BODY, now=clock.now())
        clock.advance(2)
        with pytest.raises(InvalidSignatureError):
            verify(SECRET, header, BODY, now=clock.now())

    def test_refuses_a_changed_body_or_another_secret(self) -> None:
        header = sign(SECRET, T, BODY)
        for secret, body in ((SECRET, BODY.replace(b"1", b"2")), ("whsec_other", BODY)):
            with pytest.raises(InvalidSignatureError) as caught:
                verify(secret, header, body, now=T)
            assert caught.value.failure is SignatureFailure.BAD_SIGNATURE

    def test_refuses_a_replayed_signature_with_a_new_timestamp(self) -> None:
        _, v1 = sign(SECRET, T, BODY).split(",")
        with pytest.raises(InvalidSignatureError) as caught:
            verify(SECRET, f"t={T + 60},{v1}", BODY, now=T + 60)
        assert caught.value.failure is SignatureFailure.BAD_SIGNATURE

    def test_one_matching_v1_is_enough_while_secrets_rotate(self) -> None:
        old = compute_signature("whsec_old", T, BODY)
        new = compute_signature(SECRET, T, BODY)
        verify(SECRET, f"t={T},v1={old},v1={new},v0=ignored", BODY, now=T)

    @pytest.mark.parametrize("header", [None, "", "   "])
    def test_a_missing_header_is_refused(self, header: str | None) -> None:
        with pytest.raises(InvalidSignatureError) as caught:
            verify(SECRET, header, BODY, now=T)
        assert caught.value.failure is SignatureFailure.MISSING_HEADER

    @pytest.mark.parametrize(
        "header",
        [
            "garbage",
            f"v1={'0' * 64}",
            f"t={T}",
            f"t=abc,v1={'0' * 64}",
            f"t={T},t={T},v1={'0' * 64}",
            f"t={T},v1=",
            f"t={T},v1={'0' * 64}," + "x=y," * 2000,
        ],
    )
    def test_a_malformed_header_is_refused(self, header: str) -> None:
        with pytest.raises(InvalidSignatureError) as caught:
            verify(SECRET, header, BODY, now=T)
        assert caught.value.failure is SignatureFailure.MALFORMED_HEADER
