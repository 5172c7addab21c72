"""The simulator's own idempotency (Stripe semantics), enforced by a unique key row.

For a request with an ``Idempotency-Key``:

1. a key already being handled by this process answers 409 ``idempotency_key_in_use``;
2. a recorded key answers its stored status and body with ``Idempotent-Replayed: true``
   when the request's fingerprint (operation, path, normalized parameters) matches, and
   422 ``idempotency_key_reused`` when it does not;
3. otherwise ``prepare`` runs (token delays, flaky failures: nothing is written, so a
   503 here leaves the key free for a retry), then one write transaction re-checks the key,
   applies the effect and inserts the key row with the rendered response. The key is the
   table's primary key, so of two writers that both passed step 2 (two processes on one
   database) only one commits; the other's effect rolls back with its key row and it
   answers the winner's stored response.

A rule error (404/409) raised by the effect is recorded like a success, as Stripe records
the outcome of every request that ran: the same request answers the same way again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from bazaar.infra.db import Database
from bazaar.kernel.clock import Clock
from bazaar.psp import store
from bazaar.psp.errors import AuthorizationNotFoundError, PspRuleError
from bazaar.psp.store import IdempotencyKeyTakenError, KeyRecord
from bazaar.psp.web import ApiError, ErrorKind, error_body, rule_error

__all__ = ["Effect", "IdempotencyGuard", "KeyedRequest", "Outcome", "fingerprint"]


def fingerprint(operation: str, path: str, params: Mapping[str, Any]) -> str:
    """A digest of what a request asks for; equal for equal requests in any key order."""
    canonical = orjson.dumps(
        {"operation": operation, "path": path, "params": params}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    key: str
    operation: str
    path: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Effect:
    """What an operation did: its answer, the objects it touched, the events to send."""

    status: int
    body: dict[str, Any]
    authorization_id: str | None
    refund_id: str | None = None
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to send. ``effect`` is set only when this request applied it."""

    status: int
    body: bytes
    replayed: bool
    effect: Effect | None = None


Prepare = Callable[[], Awaitable[None]]
Execute = Callable[[AsyncConnection], Awaitable[Effect]]


class IdempotencyGuard:
    """Runs keyed operations at most once per key (see the module docstring for the steps)."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._in_flight: set[str] = set()

    def is_in_flight(self, key: str) -> bool:
        return key in self._in_flight

    async def run(
        self, request: KeyedRequest, prepare: Prepare | None, execute: Execute
    ) -> Outcome:
        """Answer ``request`` from its key's record, or apply it once and record it.

        Raises:
            ApiError: 409 ``idempotency_key_in_use``, 422 ``idempotency_key_reused``, or
                whatever ``prepare`` raises (nothing is recorded then).
        """
        if request.key in self._in_flight:
            raise ApiError(
                409,
                "idempotency_key_in_use",
                "a request with this idempotency key is still being processed; retry later",
                kind=ErrorKind.IDEMPOTENCY,
                headers={"Retry-After": "1"},
            )
        # No await between the check and the add: within one event loop this is atomic.
        self._in_flight.add(request.key)
        try:
            recorded = await self.find(request.key)
            if recorded is not None:
                return _replay(recorded, request)
            if prepare is not None:
                await prepare()
            return await self._apply(request, execute)
        finally:
            self._in_flight.discard(request.key)

    async def find(self, key: str) -> KeyRecord | None:
        async with self._database.read_engine.connect() as conn:
            return await store.find_key(conn, key)

    async def _apply(self, request: KeyedRequest, execute: Execute) -> Outcome:
        try:
            async with self._database.engine.begin() as conn:
                recorded = await store.find_key(conn, request.key)
                if recorded is not None:
                    return _replay(recorded, request)
                effect: Effect | None
                try:
                    # A savepoint: a rule error found half-way leaves no partial effect.
                    async with conn.begin_nested():
                        effect = await execute(conn)
                except PspRuleError as exc:
                    effect = None
                    error = rule_error(exc)
                    status = error.status
                    body = error_body(error.kind, error.code, error.message)
                    missing = isinstance(exc, AuthorizationNotFoundError)
                    authorization_id = None if missing else exc.authorization_id
                    refund_id = None
                else:
                    status, body = effect.status, orjson.dumps(effect.body)
                    authorization_id, refund_id = effect.authorization_id, effect.refund_id
                await store.insert_key(
                    conn,
                    KeyRecord(
                        key=request.key,
                        fingerprint=request.fingerprint,
                        operation=request.operation,
                        path=request.path,
                        response_status=status,
                        response_body=body,
                        authorization_id=authorization_id,
                        refund_id=refund_id,
                        created_at=self._clock.now(),
                    ),
                )
        except IdempotencyKeyTakenError:
            recorded = await self.find(request.key)
            if recorded is None:  # the winner's row is committed before our insert fails
                raise
            return _replay(recorded, request)
        return Outcome(status, body, replayed=False, effect=effect)


def _replay(recorded: KeyRecord, request: KeyedRequest) -> Outcome:
    if recorded.fingerprint != request.fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this idempotency key was used with a different request; use a new key",
            kind=ErrorKind.IDEMPOTENCY,
        )
    return Outcome(recorded.response_status, recorded.response_body, replayed=True)
