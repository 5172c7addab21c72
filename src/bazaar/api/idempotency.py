"""Idempotency-Key over HTTP (api.md "Conventions", capabilities §5.4) for every idempotent POST.

A route declares ``key: IdempotencyKey`` after its principal (so 401/403 come first) and
hands its operation to ``run_idempotent``:

* missing or invalid key → 400 ``idempotency-key-missing`` (the detail says which);
* the key is claimed — scoped to ``tenant:user`` — in a short transaction of its own,
  committed before the operation starts, over a fingerprint of method, path and the
  validated body;
* REPLAY → the stored status, body and headers, plus ``Idempotent-Replayed: true``;
  MISMATCH → 422 ``idempotency-key-reused``; IN_FLIGHT → 409 ``idempotency-key-in-flight``
  with ``Retry-After: 1``;
* PROCEED → the operation runs with an ``IdempotencyTicket``. It completes the key with a
  ``StoredResponse`` inside the unit of work of its own business write (atomically) and
  returns that response. If it raises instead, it committed no effect, and the key is
  released so the same key can be retried.

Requests refused before the operation (400/401/403/415/422/429, by FastAPI or these
dependencies) never reach the claim, so they store nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import orjson
import structlog
from fastapi import Depends, Header
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.problems import PROBLEM_CONTENT_TYPE, ProblemError, raw_problem
from bazaar.kernel.idempotency import (
    Claim,
    Decision,
    IdempotencyLockLostError,
    InvalidIdempotencyKeyError,
    StoredResponse,
    fingerprint,
    validate_key,
)

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "REPLAYED_HEADER",
    "IdempotencyKey",
    "IdempotencyTicket",
    "KeyClaims",
    "idempotency_key",
    "json_outcome",
    "key_scope",
    "problem_outcome",
    "run_idempotent",
    "stored_response",
]

log = structlog.get_logger("bazaar.api.idempotency")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_IN_FLIGHT_DETAIL = (
    "A request with this Idempotency-Key is still being processed; retry after a second."
)


@dataclass(frozen=True, slots=True)
class IdempotencyTicket:
    """A claimed key, as the application layer needs it to complete the key in its UoW."""

    scope: str
    key: str
    lock_token: str


class KeyClaims(Protocol):
    """Where keys are claimed and released (a context's service, on its own transactions)."""

    async def claim_key(self, scope: str, key: str, fingerprint: str) -> Claim: ...

    async def peek_key(self, scope: str, key: str, fingerprint: str) -> Claim: ...

    async def release_key(self, scope: str, key: str, lock_token: str) -> None: ...


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            description="1..255 printable ASCII characters, unique per operation.",
        ),
    ] = None,
) -> str:
    """The request's Idempotency-Key (a dependency).

    Raises:
        ProblemError: 400 ``idempotency-key-missing`` when absent or malformed.
    """
    try:
        return validate_key(key)
    except InvalidIdempotencyKeyError as exc:
        if exc.reason == "missing":
            detail = f"This operation needs an {IDEMPOTENCY_KEY_HEADER} header."
        else:
            detail = (
                f"The {IDEMPOTENCY_KEY_HEADER} header is {exc.reason}; send 1..255 printable "
                "ASCII characters."
            )
        raise ProblemError(400, "idempotency-key-missing", detail) from exc


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


def key_scope(tenant_id: int, user_id: int) -> str:
    """Keys are scoped per tenant and user: two callers' equal keys never meet."""
    return f"{tenant_id}:{user_id}"


def json_outcome(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> StoredResponse:
    """A JSON response to store and send."""
    return StoredResponse(
        status, orjson.dumps(payload), {"content-type": "application/json", **(headers or {})}
    )


def problem_outcome(problem: ProblemError, instance: str) -> StoredResponse:
    """A problem+json response to store and send (an error that is the operation's outcome)."""
    body = raw_problem(
        problem.status,
        problem.slug,
        detail=problem.detail,
        instance=instance,
        errors=problem.errors,
        title=problem.title,
    )
    return StoredResponse(
        problem.status, body, {"content-type": PROBLEM_CONTENT_TYPE, **problem.headers}
    )


def stored_response(stored: StoredResponse, *, replayed: bool) -> Response:
    headers = dict(stored.headers)
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers)


async def run_idempotent(
    request: Request,
    *,
    key: str,
    scope: str,
    payload: Any,
    claims: KeyClaims,
    operation: Callable[[IdempotencyTicket], Awaitable[StoredResponse]],
    fail_fast: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Run ``operation`` at most once per (scope, key); answer replays from the record.

    Args:
        request: the request (its method and path go into the fingerprint).
        key: the validated Idempotency-Key.
        scope: ``key_scope(tenant_id, user_id)``.
        payload: the validated body as JSON data (``model_dump(mode="json")``), so that
            formatting and key order do not change the fingerprint.
        claims: where the key is claimed and released.
        operation: the work; completes the key atomically with its effect and returns the
            stored response, or raises having committed nothing.
        fail_fast: raises when the operation cannot run now (an open breaker); checked
            before the claim, so the refusal costs no write. A stored outcome of the key is
            still replayed: the record is read (not claimed) first.

    Raises:
        ProblemError: 422 ``idempotency-key-reused``, 409 ``idempotency-key-in-flight``.
        Exception: whatever ``operation`` raised, after the key was released.
    """
    request_fingerprint = fingerprint(request.method, request.url.path, payload)
    if fail_fast is not None:
        try:
            await fail_fast()
        except Exception:
            preview = await claims.peek_key(scope, key, request_fingerprint)
            if preview.decision is Decision.PROCEED:
                raise
            claim = preview  # replay, mismatch or in flight: answered as usual, no write
        else:
            claim = await claims.claim_key(scope, key, request_fingerprint)
    else:
        claim = await claims.claim_key(scope, key, request_fingerprint)
    if claim.decision is Decision.REPLAY:
        assert claim.response is not None  # a completed record always has its response
        return stored_response(claim.response, replayed=True)
    if claim.decision is Decision.MISMATCH:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            f"This {IDEMPOTENCY_KEY_HEADER} was used for a different request; use a new key.",
        )
    if claim.decision is Decision.IN_FLIGHT:
        raise ProblemError(
            409, "idempotency-key-in-flight", _IN_FLIGHT_DETAIL, headers={"Retry-After": "1"}
        )
    assert claim.lock_token is not None  # PROCEED always carries the lock token
    ticket = IdempotencyTicket(scope, key, claim.lock_token)
    try:
        stored = await operation(ticket)
    except IdempotencyLockLostError as exc:
        # Another request took the key over (this one outlived the lock); it owns the
        # outcome now, and this one committed nothing.
        raise ProblemError(
            409, "idempotency-key-in-flight", _IN_FLIGHT_DETAIL, headers={"Retry-After": "1"}
        ) from exc
    except BaseException:
        await _release(claims, ticket)
        raise
    return stored_response(stored, replayed=False)


async def _release(claims: KeyClaims, ticket: IdempotencyTicket) -> None:
    # Shielded: a request cancelled by its deadline or a departed client must still free
    # its key. If the release fails, the key frees itself when its lock goes stale.
    try:
        await asyncio.shield(claims.release_key(ticket.scope, ticket.key, ticket.lock_token))
    except Exception as exc:  # the original error matters more than the bookkeeping
        log.warning("idempotency_release_failed", key_scope=ticket.scope, error=repr(exc))
