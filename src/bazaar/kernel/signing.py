"""Timestamped HMAC signatures of webhook bodies: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed payload is ``f"{t}."`` followed by the raw body, so the timestamp cannot change
without breaking the signature, and a receiver that bounds ``t`` (±5 minutes by default)
refuses replays of old deliveries. Several ``v1`` entries may appear (a sender rotating
secrets signs with both); one match is enough; other schemes are ignored. The scheme is
Stripe's (https://docs.stripe.com/webhooks, "Verify signatures manually"). Used by the
PSP simulator's webhooks and by bazaar's outgoing webhooks, each under its own header name.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from bazaar.kernel.errors import KernelError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_SCHEME",
    "SignatureFailure",
    "SignatureMismatchError",
    "compute_signature",
    "signature_header",
    "verify_signature",
]

SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0
# Bounds what a hostile header can make the verifier do (split, compare) before it is refused.
_MAX_HEADER_LENGTH = 4096


class SignatureFailure(enum.StrEnum):
    """Why a signature was refused (the value is safe to log and to answer with)."""

    MISSING_HEADER = "missing_header"
    MALFORMED_HEADER = "malformed_header"
    BAD_SIGNATURE = "bad_signature"
    TIMESTAMP_OUT_OF_TOLERANCE = "timestamp_out_of_tolerance"


class SignatureMismatchError(KernelError):
    """A signature header did not verify; ``failure`` says why."""

    def __init__(self, failure: SignatureFailure, detail: str = "") -> None:
        super().__init__(f"{failure.value}: {detail}" if detail else failure.value)
        self.failure = failure
        self.detail = detail


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` under ``secret`` (UTF-8)."""
    payload = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``"t=<timestamp>,v1=<hex signature>"`` for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a signature header against the raw body and the receiver's clock.

    Args:
        secret: the shared secret.
        header: the header value as received; None when it was absent.
        body: the raw request body, byte for byte as received (not re-serialized JSON).
        now: the receiver's unix time (from its injected clock).
        tolerance_s: how far ``t`` may be from ``now``, in either direction.

    Returns:
        The signed timestamp ``t``.

    Raises:
        SignatureMismatchError: ``missing_header``, ``malformed_header``, ``bad_signature``
            or ``timestamp_out_of_tolerance``.
    """
    if header is None or not header.strip():
        raise SignatureMismatchError(SignatureFailure.MISSING_HEADER)
    timestamp, candidates = _parse(header)
    expected = compute_signature(secret, timestamp, body)
    # compare_digest on every candidate: the time taken must not reveal how much matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureMismatchError(SignatureFailure.BAD_SIGNATURE)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureMismatchError(
            SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE,
            f"t={timestamp} is {now - timestamp:+.0f} s from now (tolerance ±{tolerance_s:g} s)",
        )
    return timestamp


def _malformed(detail: str) -> SignatureMismatchError:
    return SignatureMismatchError(SignatureFailure.MALFORMED_HEADER, detail)


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_LENGTH:
        raise _malformed("header too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name or not value:
            raise _malformed(f"bad element {part!r}")
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                raise _malformed("bad or repeated t")
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME:
            if not value.isascii():
                raise _malformed("non-ASCII signature")
            candidates.append(value)
    if timestamp is None:
        raise _malformed("no t= element")
    if not candidates:
        raise _malformed(f"no {SIGNATURE_SCHEME}= element")
    return timestamp, candidates
