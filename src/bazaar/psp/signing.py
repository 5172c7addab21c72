"""Webhook signatures of the simulator: ``Psp-Signature: t=<unix seconds>,v1=<hex>``.

The signed payload is ``f"{t}.".encode() + raw_body``, so the timestamp cannot be changed
without breaking the signature, and a receiver that also bounds ``t`` (±5 minutes by default)
refuses replays of old deliveries. The scheme is Stripe's (https://docs.stripe.com/webhooks
"Verify signatures manually"); bazaar's ``POST /api/v1/webhooks/psp`` verifies with
:func:`verify`. The scheme itself lives in ``bazaar.kernel.signing``.
"""

from __future__ import annotations

from bazaar.kernel.signing import (
    DEFAULT_TOLERANCE_S,
    SIGNATURE_SCHEME,
    SignatureMismatchError,
    signature_header,
    verify_signature,
)
from bazaar.kernel.signing import compute_signature as _compute
from bazaar.psp.errors import SignatureError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "compute_signature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "Psp-Signature"


def compute_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` under ``secret``."""
    return _compute(secret, timestamp, body)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Psp-Signature`` header value for ``body`` sent at ``timestamp``."""
    return signature_header(secret, timestamp, body)


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a ``Psp-Signature`` header against the raw body and the current time.

    Raises:
        SignatureError: with reason ``missing_header``, ``malformed_header``,
            ``bad_signature`` or ``timestamp_out_of_tolerance``.
    """
    try:
        verify_signature(secret, header, body, now=now, tolerance_s=tolerance_s)
    except SignatureMismatchError as exc:
        raise SignatureError(exc.failure, exc.detail) from None
