"""The timestamped HMAC signature block shared by PSP webhooks and outgoing webhooks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.signing import (
    SignatureFailure,
    SignatureMismatchError,
    signature_header,
    verify_signature,
)

NOW = 1_800_000_000


@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=200))
def test_what_is_signed_verifies_and_any_other_body_does_not(secret: str, body: bytes) -> None:
    header = signature_header(secret, NOW, body)
    assert verify_signature(secret, header, body, now=NOW) == NOW
    with pytest.raises(SignatureMismatchError) as caught:
        verify_signature(secret, header, body + b"x", now=NOW)
    assert caught.value.failure is SignatureFailure.BAD_SIGNATURE


def test_a_rotating_sender_may_sign_with_two_secrets() -> None:
    old = signature_header("old", NOW, b"{}")
    new = signature_header("new", NOW, b"{}")
    both = f"{old},{new.split(',', 1)[1]}"
    assert verify_signature("new", both, b"{}", now=NOW) == NOW
    assert verify_signature("old", both, b"{}", now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "failure"),
    [
        (None, SignatureFailure.MISSING_HEADER),
        ("v1=abc", SignatureFailure.MALFORMED_HEADER),
        ("t=1,t=2,v1=abc", SignatureFailure.MALFORMED_HEADER),
        ("t=x,v1=abc", SignatureFailure.MALFORMED_HEADER),
        ("t=" + "1" * 5000, SignatureFailure.MALFORMED_HEADER),
    ],
)
def test_bad_headers_are_refused_with_a_reason(
    header: str | None, failure: SignatureFailure
) -> None:
    with pytest.raises(SignatureMismatchError) as caught:
        verify_signature("s", header, b"{}", now=NOW)
    assert caught.value.failure is failure


def test_an_old_timestamp_is_a_replay() -> None:
    header = signature_header("s", NOW - 301, b"{}")
    with pytest.raises(SignatureMismatchError) as caught:
        verify_signature("s", header, b"{}", now=NOW)
    assert caught.value.failure is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE
