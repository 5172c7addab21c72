"""``bazaar.api.idempotency``: the HTTP decisions around a claimed key, with in-memory claims."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.idempotency import (
    IdempotencyTicket,
    idempotency_key,
    json_outcome,
    key_scope,
    problem_outcome,
    run_idempotent,
)
from bazaar.api.problems import ProblemError
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.idempotency import (
    Claim,
    IdempotencyLockLostError,
    InMemoryIdempotencyRecords,
    StoredResponse,
)
from bazaar.kernel.resilience import DependencyUnavailableError

SCOPE = key_scope(1, 2)


class MemoryClaims:
    """``KeyClaims`` over the kernel's in-memory records; counts releases."""

    def __init__(self, clock: ManualClock) -> None:
        self.records = InMemoryIdempotencyRecords()
        self.clock = clock
        self.released = 0

    async def claim_key(self, scope: str, key: str, fingerprint: str) -> Claim:
        return await self.records.claim(scope, key, fingerprint, self.clock.now())

    async def release_key(self, scope: str, key: str, lock_token: str) -> None:
        self.released += 1
        await self.records.release(scope, key, lock_token)

    async def complete(self, ticket: IdempotencyTicket, response: StoredResponse) -> None:
        await self.records.complete(
            ticket.scope, ticket.key, ticket.lock_token, response, self.clock.now()
        )


def post(path: str = "/api/v1/payments") -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "headers": []})


@pytest.fixture
def claims() -> MemoryClaims:
    return MemoryClaims(ManualClock(start=1_800_000_000))


Operation = Callable[[IdempotencyTicket], Awaitable[StoredResponse]]


async def run(claims: MemoryClaims, payload: object, operation: Operation) -> Response:
    return await run_idempotent(
        post(), key="k", scope=SCOPE, payload=payload, claims=claims, operation=operation
    )


class TestKeyHeader:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [(None, "needs an Idempotency-Key"), ("", "needs"), ("x" * 256, "longer than 255"),
         ("caf\u00e9", "not printable ASCII")],
    )  # fmt: skip
    def test_missing_or_invalid_keys_are_400(self, value: str | None, reason: str) -> None:
        with pytest.raises(ProblemError) as raised:
            idempotency_key(value)
        assert (raised.value.status, raised.value.slug) == (400, "idempotency-key-missing")
        assert reason in (raised.value.detail or "")

    def test_keys_are_scoped_per_tenant_and_user(self) -> None:
        assert key_scope(1, 2) != key_scope(2, 1)


class TestDecisions:
    async def test_the_first_request_runs_and_a_replay_answers_the_stored_response(
        self, claims: MemoryClaims
    ) -> None:
        runs: list[IdempotencyTicket] = []

        async def operation(ticket: IdempotencyTicket) -> StoredResponse:
            runs.append(ticket)
            stored = json_outcome(201, {"id": "1"}, {"location": "/x/1"})
            await claims.complete(ticket, stored)
            return stored

        first = await run(claims, {"a": 1}, operation)
        replay = await run(claims, {"a": 1}, operation)
        assert len(runs) == 1
        assert (first.status_code, replay.status_code) == (201, 201)
        assert replay.body == first.body
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["location"] == "/x/1"
        assert "idempotent-replayed" not in first.headers

    async def test_another_body_with_the_same_key_is_422(self, claims: MemoryClaims) -> None:
        async def operation(ticket: IdempotencyTicket) -> StoredResponse:
            stored = json_outcome(201, {})
            await claims.complete(ticket, stored)
            return stored

        await run(claims, {"a": 1}, operation)
        with pytest.raises(ProblemError) as raised:
            await run(claims, {"a": 2}, operation)
        assert (raised.value.status, raised.value.slug) == (422, "idempotency-key-reused")

    async def test_a_duplicate_in_flight_is_409_with_retry_after(
        self, claims: MemoryClaims
    ) -> None:
        started, finish = asyncio.Event(), asyncio.Event()

        async def slow(ticket: IdempotencyTicket) -> StoredResponse:
            started.set()
            await finish.wait()
            stored = json_outcome(201, {})
            await claims.complete(ticket, stored)
            return stored

        first = asyncio.create_task(run(claims, {}, slow))
        await started.wait()
        with pytest.raises(ProblemError) as raised:
            await run(claims, {}, slow)
        assert (raised.value.status, raised.value.slug) == (409, "idempotency-key-in-flight")
        assert raised.value.headers == {"Retry-After": "1"}
        finish.set()
        await first

    @pytest.mark.parametrize(
        "error",
        [DependencyUnavailableError("psp", "breaker_open", 30.0), RuntimeError("bug"),
         asyncio.CancelledError()],
    )  # fmt: skip
    async def test_an_operation_that_raises_releases_the_key(
        self, claims: MemoryClaims, error: BaseException
    ) -> None:
        async def failing(ticket: IdempotencyTicket) -> StoredResponse:
            raise error

        with pytest.raises(type(error)):
            await run(claims, {}, failing)
        assert claims.released == 1
        assert claims.records.records == {}

    async def test_a_lost_lock_is_409_and_leaves_the_key_to_its_new_owner(
        self, claims: MemoryClaims
    ) -> None:
        async def overtaken(ticket: IdempotencyTicket) -> StoredResponse:
            raise IdempotencyLockLostError(ticket.scope, ticket.key)

        with pytest.raises(ProblemError) as raised:
            await run(claims, {}, overtaken)
        assert raised.value.status == 409
        assert claims.released == 0

    def test_a_stored_problem_is_problem_json(self) -> None:
        stored = problem_outcome(ProblemError(409, "conflict", "too much"), "/api/v1/p/1/refunds")
        assert stored.status == 409
        assert stored.headers["content-type"] == "application/problem+json"
        assert b'"type":"https://bazaar.dev/problems/conflict"' in stored.body
