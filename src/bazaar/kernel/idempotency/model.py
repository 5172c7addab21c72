"""Idempotency keys: the key format, request fingerprints, records and the pure decision."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from bazaar.kernel.idempotency.errors import InvalidIdempotencyKeyError

__all__ = [
    "Claim",
    "Decision",
    "IdempotencyConfig",
    "KeyRecord",
    "KeyState",
    "StoredResponse",
    "decide",
    "fingerprint",
    "validate_key",
]

MAX_KEY_LENGTH = 255


class KeyState(enum.Enum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class Decision(enum.Enum):
    """What to do with a request carrying a key."""

    PROCEED = "proceed"  # first time (or a stale lock taken over): run the operation
    REPLAY = "replay"  # completed with the same request: answer the stored response
    MISMATCH = "mismatch"  # the key was used for a different request: 422
    IN_FLIGHT = "in_flight"  # the first request is still running: 409, retry later


@dataclass(frozen=True, slots=True)
class IdempotencyConfig:
    """How long records live and how long an in-flight lock is honoured.

    ``lock_s`` bounds how long a crashed request blocks its key: after it, a retry takes
    the key over and runs again, which is safe because every downstream effect carries the
    same key (the PSP de-duplicates the authorization).
    """

    ttl_s: float = 24 * 3600.0
    lock_s: float = 60.0


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    scope: str
    key: str
    fingerprint: str
    state: KeyState
    lock_token: str
    locked_until: float
    expires_at: float
    response: StoredResponse | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key: the decision, and what the caller needs for it."""

    decision: Decision
    lock_token: str | None = None  # PROCEED: pass it back to complete() or release()
    response: StoredResponse | None = None  # REPLAY: what to answer
    retry_after_s: float | None = None  # IN_FLIGHT: when the lock would go stale


def validate_key(key: str | None) -> str:
    """Check an ``Idempotency-Key`` header value (1..255 printable ASCII).

    Raises:
        InvalidIdempotencyKeyError: the value does not qualify.
    """
    if key is None or key == "":
        raise InvalidIdempotencyKeyError("missing")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKeyError(f"longer than {MAX_KEY_LENGTH} characters")
    if not all(" " <= ch <= "~" for ch in key):
        raise InvalidIdempotencyKeyError("not printable ASCII")
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of what the request asks for, independent of JSON formatting and key order.

    Args:
        method: HTTP method.
        path: the request path (the route's concrete path, ids included).
        body: the parsed JSON body (or None).

    Returns:
        64 hex characters.
    """
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def decide(existing: KeyRecord | None, request_fingerprint: str, now: float) -> Decision:
    """The pure rule of idempotency keys (IETF draft-ietf-httpapi-idempotency-key-header).

    A record past its expiry counts as absent. A request that differs from the one that
    first used the key is a mismatch whatever the record's state. An in-flight record whose
    lock went stale is taken over (PROCEED), since its owner is presumed dead.
    """
    if existing is None or existing.expires_at <= now:
        return Decision.PROCEED
    if existing.fingerprint != request_fingerprint:
        return Decision.MISMATCH
    if existing.state is KeyState.COMPLETED:
        return Decision.REPLAY
    if existing.locked_until <= now:
        return Decision.PROCEED
    return Decision.IN_FLIGHT
