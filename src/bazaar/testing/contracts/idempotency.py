"""The contract of ``IdempotencyRecords``: every adapter must pass it on its real engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bazaar.kernel.idempotency import (
    Decision,
    IdempotencyConfig,
    IdempotencyLockLostError,
    IdempotencyRecords,
    StoredResponse,
)

__all__ = ["CONTRACT_CONFIG", "IdempotencyRecordsContract", "RecordsFactory"]

# A transaction of the adapter under test: entering opens it, leaving commits it.
RecordsFactory = Callable[[], AbstractAsyncContextManager[IdempotencyRecords]]

CONTRACT_CONFIG = IdempotencyConfig(ttl_s=3600.0, lock_s=30.0)
NOW = 1_800_000_000.0
RESPONSE = StoredResponse(status=201, body=b'{"id":"1"}', headers={"location": "/x/1"})


class IdempotencyRecordsContract:
    """Subclass and provide a ``records`` fixture returning a ``RecordsFactory``.

    The adapter must be built with ``CONTRACT_CONFIG``.
    """

    @pytest.fixture
    def scope(self) -> str:
        return f"tenant-{uuid.uuid4().hex[:8]}:user-1"

    async def test_the_first_claim_proceeds_with_a_lock(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            claim = await r.claim(scope, "k1", "fp-a", NOW)
        assert claim.decision is Decision.PROCEED
        assert claim.lock_token

    async def test_a_duplicate_in_flight_is_told_to_retry_later(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            await r.claim(scope, "k1", "fp-a", NOW)
        async with records() as r:
            claim = await r.claim(scope, "k1", "fp-a", NOW + 1)
        assert claim.decision is Decision.IN_FLIGHT
        assert claim.retry_after_s == pytest.approx(CONTRACT_CONFIG.lock_s - 1)

    async def test_a_completed_key_replays_the_stored_response(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
        async with records() as r:
            await r.complete(scope, "k1", first.lock_token, RESPONSE, NOW + 1)
        async with records() as r:
            again = await r.claim(scope, "k1", "fp-a", NOW + 2)
        assert again.decision is Decision.REPLAY
        assert again.response == RESPONSE

    async def test_a_different_request_under_the_same_key_is_a_mismatch(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
        async with records() as r:
            in_flight = await r.claim(scope, "k1", "fp-b", NOW + 1)
        async with records() as r:
            await r.complete(scope, "k1", first.lock_token, RESPONSE, NOW + 2)
        async with records() as r:
            completed = await r.claim(scope, "k1", "fp-b", NOW + 3)
        assert in_flight.decision is Decision.MISMATCH
        assert completed.decision is Decision.MISMATCH

    async def test_a_released_key_can_be_claimed_again(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
        async with records() as r:
            await r.release(scope, "k1", first.lock_token)
        async with records() as r:
            again = await r.claim(scope, "k1", "fp-b", NOW + 1)
        assert again.decision is Decision.PROCEED

    async def test_a_stale_lock_is_taken_over_and_the_old_owner_loses(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
        later = NOW + CONTRACT_CONFIG.lock_s + 1
        async with records() as r:
            takeover = await r.claim(scope, "k1", "fp-a", later)
        assert takeover.decision is Decision.PROCEED
        assert takeover.lock_token not in (None, first.lock_token)
        with pytest.raises(IdempotencyLockLostError):
            async with records() as r:
                await r.complete(scope, "k1", first.lock_token, RESPONSE, later + 1)

    async def test_an_expired_record_counts_as_absent(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
            await r.complete(scope, "k1", first.lock_token, RESPONSE, NOW)
        async with records() as r:
            claim = await r.claim(scope, "k1", "fp-other", NOW + CONTRACT_CONFIG.ttl_s + 1)
        assert claim.decision is Decision.PROCEED

    async def test_peek_decides_like_claim_without_writing(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async with records() as r:
            free = await r.peek(scope, "k1", "fp-a", NOW)
        async with records() as r:
            first = await r.claim(scope, "k1", "fp-a", NOW)
            assert first.lock_token is not None
        async with records() as r:
            in_flight = await r.peek(scope, "k1", "fp-a", NOW + 1)
            await r.complete(scope, "k1", first.lock_token, RESPONSE, NOW + 2)
        async with records() as r:
            replay = await r.peek(scope, "k1", "fp-a", NOW + 3)
            mismatch = await r.peek(scope, "k1", "fp-b", NOW + 3)
        assert free.decision is Decision.PROCEED
        assert free.lock_token is None
        assert first.decision is Decision.PROCEED  # the peek claimed nothing
        assert in_flight.decision is Decision.IN_FLIGHT
        assert replay.decision is Decision.REPLAY
        assert replay.response == RESPONSE
        assert mismatch.decision is Decision.MISMATCH

    async def test_scopes_do_not_share_keys(self, records: RecordsFactory, scope: str) -> None:
        async with records() as r:
            await r.claim(scope, "k1", "fp-a", NOW)
        async with records() as r:
            other = await r.claim(scope + "-other", "k1", "fp-b", NOW)
        assert other.decision is Decision.PROCEED

    async def test_of_concurrent_first_claims_exactly_one_proceeds(
        self, records: RecordsFactory, scope: str
    ) -> None:
        async def claim() -> Decision:
            async with records() as r:
                return (await r.claim(scope, "race", "fp-a", NOW)).decision

        decisions = await asyncio.gather(*(claim() for _ in range(20)))
        assert decisions.count(Decision.PROCEED) == 1
        assert decisions.count(Decision.IN_FLIGHT) == 19
