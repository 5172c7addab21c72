"""In-process key records (tests and single-process tools; no transactions to join)."""

from __future__ import annotations

import secrets

from bazaar.kernel.idempotency.errors import IdempotencyLockLostError
from bazaar.kernel.idempotency.model import (
    Claim,
    Decision,
    IdempotencyConfig,
    KeyRecord,
    KeyState,
    StoredResponse,
    decide,
)

__all__ = ["InMemoryIdempotencyRecords"]


class InMemoryIdempotencyRecords:
    """Key records in a dict; inspect ``records`` in tests."""

    def __init__(self, config: IdempotencyConfig | None = None) -> None:
        self.config = config or IdempotencyConfig()
        self.records: dict[tuple[str, str], KeyRecord] = {}

    async def claim(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        existing = self.records.get((scope, key))
        decision = decide(existing, fingerprint, now)
        if decision is Decision.PROCEED:
            token = secrets.token_hex(16)
            self.records[(scope, key)] = KeyRecord(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                state=KeyState.IN_FLIGHT,
                lock_token=token,
                locked_until=now + self.config.lock_s,
                expires_at=now + self.config.ttl_s,
            )
            return Claim(decision, lock_token=token)
        assert existing is not None  # decide() answers PROCEED for a missing record
        if decision is Decision.REPLAY:
            return Claim(decision, response=existing.response)
        if decision is Decision.IN_FLIGHT:
            return Claim(decision, retry_after_s=max(0.0, existing.locked_until - now))
        return Claim(decision)

    async def peek(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        existing = self.records.get((scope, key))
        decision = decide(existing, fingerprint, now)
        if decision is Decision.REPLAY and existing is not None:
            return Claim(decision, response=existing.response)
        if decision is Decision.IN_FLIGHT and existing is not None:
            return Claim(decision, retry_after_s=max(0.0, existing.locked_until - now))
        return Claim(decision)

    async def complete(
        self, scope: str, key: str, lock_token: str, response: StoredResponse, now: float
    ) -> None:
        existing = self.records.get((scope, key))
        if existing is None or existing.lock_token != lock_token:
            raise IdempotencyLockLostError(scope, key)
        self.records[(scope, key)] = KeyRecord(
            scope=scope,
            key=key,
            fingerprint=existing.fingerprint,
            state=KeyState.COMPLETED,
            lock_token=lock_token,
            locked_until=now,
            expires_at=existing.expires_at,
            response=response,
        )

    async def release(self, scope: str, key: str, lock_token: str) -> None:
        existing = self.records.get((scope, key))
        if existing is not None and existing.lock_token == lock_token:
            del self.records[(scope, key)]

    async def purge_expired(self, now: float) -> int:
        expired = [k for k, record in self.records.items() if record.expires_at <= now]
        for key in expired:
            del self.records[key]
        return len(expired)
