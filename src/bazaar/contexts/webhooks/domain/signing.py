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

import hashlib
import hmac

from bazaar.contexts.webhooks.domain.errors import InvalidSignatureError, SignatureFailure

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "compute_signature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "Bazaar-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0
# Bounds what a hostile header can make the verifier do before it is refused.
_MAX_HEADER_LENGTH = 4096


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` under ``secret``.

    Args:
        secret: the endpoint's secret, exactly as shown at registration.
        timestamp: unix seconds of the attempt.
        body: the exact bytes of the request body.

    Returns:
        64 lower-case hex digits.
    """
    payload = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Bazaar-Signature`` header value of ``body`` sent at ``timestamp``.

    Args:
        secret: the endpoint's secret.
        timestamp: unix seconds of the attempt (each retry signs afresh).
        body: the exact bytes of the request body.

    Returns:
        ``"t=<timestamp>,v1=<hex signature>"``.
    """
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a ``Bazaar-Signature`` header against the raw body and the receiver's clock.

    Args:
        secret: the endpoint's secret.
        header: the header value as received; None when it was absent.
        body: the raw request body, byte for byte.
        now: the receiver's unix time.
        tolerance_s: how far ``t`` may be from ``now``, either way.

    Returns:
        The signed timestamp ``t``.

    Raises:
        InvalidSignatureError: ``missing_header``, ``malformed_header``, ``bad_signature``
            or ``timestamp_out_of_tolerance``.
    """
    if header is None or not header.strip():
        raise InvalidSignatureError(SignatureFailure.MISSING_HEADER)
    timestamp, candidates = _parse(header)
    expected = compute_signature(secret, timestamp, body)
    # Every candidate is compared in constant time: timing must not tell how much matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignatureError(SignatureFailure.BAD_SIGNATURE)
    if abs(now - timestamp) > tolerance_s:
        raise InvalidSignatureError(
            SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE,
            f"t={timestamp} is {now - timestamp:+.0f} s from now (tolerance ±{tolerance_s:g} s)",
        )
    return timestamp


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_LENGTH:
        raise InvalidSignatureError(SignatureFailure.MALFORMED_HEADER, "header too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name or not value:
            raise InvalidSignatureError(SignatureFailure.MALFORMED_HEADER, f"bad element {part!r}")
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                raise InvalidSignatureError(SignatureFailure.MALFORMED_HEADER, "bad or repeated t")
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME:
            if not value.isascii():
                raise InvalidSignatureError(
                    SignatureFailure.MALFORMED_HEADER, "non-ASCII signature"
                )
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignatureError(SignatureFailure.MALFORMED_HEADER, "no t= element")
    if not candidates:
        raise InvalidSignatureError(
            SignatureFailure.MALFORMED_HEADER, f"no {SIGNATURE_SCHEME}= element"
        )
    return timestamp, candidates
