"""Webhook signatures: ``Psp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed payload is ``f"{t}.".encode() + raw_body``, so the timestamp cannot be changed
without breaking the signature, and a receiver that also bounds ``t`` (±5 minutes by default)
refuses replays of old deliveries. The scheme is Stripe's (https://docs.stripe.com/webhooks
"Verify signatures manually"); bazaar's ``POST /api/v1/webhooks/psp`` verifies with
:func:`verify`.
"""

from __future__ import annotations

import hashlib
import hmac

from bazaar.psp.errors import SignatureError, SignatureFailure

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "compute_signature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "Psp-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0
# Bounds what a hostile header can make the verifier do (split, compare) before it is refused.
_MAX_HEADER_LENGTH = 4096


def compute_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` under ``secret``.

    Args:
        secret: the shared webhook secret.
        body: the exact bytes sent as the request body.
        timestamp: unix seconds of the delivery attempt.

    Returns:
        64 lower-case hex digits.
    """
    payload = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Psp-Signature`` header value for ``body`` sent at ``timestamp``.

    Args:
        secret: the shared webhook secret.
        body: the exact bytes sent as the request body.
        timestamp: unix seconds of the delivery attempt.

    Returns:
        ``"t=<timestamp>,v1=<hex signature>"``.
    """
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(secret, body, timestamp)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a ``Psp-Signature`` header against the raw body and the current time.

    Several ``v1=`` entries are allowed (the sender may sign with an old and a new secret
    while rotating); one match is enough. Other schemes (``v0=``) are ignored.

    Args:
        secret: the shared webhook secret.
        header: the header value as received, or None when it was absent.
        body: the raw request body, byte for byte as received (not re-serialized JSON).
        now: the receiver's current unix time (from its injected clock).
        tolerance_s: how far ``t`` may be from ``now``, in either direction.

    Raises:
        SignatureError: with reason ``missing_header``, ``malformed_header``,
            ``bad_signature`` or ``timestamp_out_of_tolerance``.
    """
    if header is None or not header.strip():
        raise SignatureError(SignatureFailure.MISSING_HEADER)
    timestamp, signatures = _parse(header)
    expected = compute_signature(secret, body, timestamp)
    # compare_digest on every candidate: the time taken must not reveal how much matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(SignatureFailure.BAD_SIGNATURE)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE,
            f"t={timestamp} is {now - timestamp:+.0f} s from now (tolerance ±{tolerance_s:g} s)",
        )


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, "header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name or not value:
            raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"bad element {part!r}")
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError(SignatureFailure.MALFORMED_HEADER, "bad or repeated t")
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME:
            if not value.isascii():
                raise SignatureError(SignatureFailure.MALFORMED_HEADER, "non-ascii signature")
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, "no t= element")
    if not signatures:
        raise SignatureError(SignatureFailure.MALFORMED_HEADER, f"no {SIGNATURE_SCHEME}= element")
    return timestamp, signatures
