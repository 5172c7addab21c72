"""The port of the idempotency block: key records bound to the caller's transaction."""

from __future__ import annotations

from typing import Protocol

from bazaar.kernel.idempotency.model import Claim, StoredResponse

__all__ = ["IdempotencyRecords", "KeyTicket"]


class IdempotencyRecords(Protocol):
    """Key records, bound to one transaction of the caller.

    The business write and ``complete()`` must run in the same transaction, so a
    response is stored exactly when its effect is committed (capabilities §5.4). ``claim``
    runs in a short transaction of its own that the caller commits before the operation.
    """

    async def claim(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        """Insert the key as in flight, or read what is there and decide."""
        ...

    async def peek(self, scope: str, key: str, fingerprint: str, now: float) -> Claim:
        """What ``claim`` would decide, without writing (PROCEED carries no lock token)."""
        ...

    async def complete(
        self, scope: str, key: str, lock_token: str, response: StoredResponse, now: float
    ) -> None:
        """Store the response for replays.

        Raises:
            IdempotencyLockLostError: another request took the key over meanwhile.
        """
        ...

    async def release(self, scope: str, key: str, lock_token: str) -> None:
        """Forget a claimed key whose operation never started (so a corrected retry runs)."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete records whose retention ended (a scheduled job); returns how many."""
        ...


class KeyTicket(Protocol):
    """A key the caller claimed before the operation (``bazaar.api.idempotency`` makes one);
    the operation completes it in the transaction of its effect."""

    @property
    def scope(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def lock_token(self) -> str: ...
