"""Signatures of outgoing webhooks: ``Bazaar-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is the hex HMAC-SHA256, keyed with the endpoint's secret (the whole ``whsec_…``
string, UTF-8), of ``f"{t}."`` followed by the raw request body. Binding ``t`` into the
signature lets a receiver refuse replays of old deliveries: it recomputes the HMAC over the
body *bytes as received* (never re-serialized JSON), compares in constant time, and refuses
a ``t`` more than 5 minutes from its own clock. In Python::

    from bazaar.contexts.webhooks import InvalidSignatureError, verify

    try:
        verify(secret, request.headers.get("Bazaar-Signature"), raw_body, now=time.time())
    except InvalidSignatureError:
        return 400

Anywhere else: split the header on ``,``, take ``t`` and every ``v1``, compute
``hex(hmac_sha256(secret, f"{t}." + body))`` and accept if any ``v1`` equals it and
``|now - t| <= 300``. Several ``v1`` entries may appear (a sender rotating secrets signs
with both); one match is enough. The scheme is Stripe's (https://docs.stripe.com/webhooks,
"Verify signatures manually"), so receivers' existing code and libraries fit.
"""

from __future__ import annotations

from bazaar.contexts.webhooks.domain.errors import InvalidSignatureError
from bazaar.kernel.signing import (
    DEFAULT_TOLERANCE_S,
    SIGNATURE_SCHEME,
    SignatureMismatchError,
    compute_signature,
    signature_header,
    verify_signature,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "compute_signature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "Bazaar-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Bazaar-Signature`` header value of ``body`` sent at ``timestamp``.

    Args:
        secret: the endpoint's secret.
        timestamp: unix seconds of the attempt (each retry signs afresh).
        body: the exact bytes of the request body.
    """
    return signature_header(secret, timestamp, body)


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a ``Bazaar-Signature`` header against the raw body and the receiver's clock.

    Returns:
        The signed timestamp ``t``.

    Raises:
        InvalidSignatureError: ``missing_header``, ``malformed_header``, ``bad_signature``
            or ``timestamp_out_of_tolerance``.
    """
    try:
        return verify_signature(secret, header, body, now=now, tolerance_s=tolerance_s)
    except SignatureMismatchError as exc:
        raise InvalidSignatureError(exc.failure, exc.detail) from None
