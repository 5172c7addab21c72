"""Who a bearer token belongs to, remembered for a moment (docs/caching.md, "Authentication").

Every authenticated request reads its token's subject: the user's current role, whether the
token's ``jti`` was revoked (logout), the tenant's plan. On SQLite that read is ~0.55 ms of
a warm product read's ~2.8 ms; the answer changes only when identity writes. So
``CachedSubjects`` keeps the answer per ``(tenant, user, jti)`` for ``ttl_s``, and forgets
every answer at once when this process commits an identity change that can alter one
(a logout, a tenant's new plan, a refresh token's reuse): in the process that made the
change it takes effect at the next request, as before.

What is traded: another API process of the same deployment keeps a remembered answer for
up to ``ttl_s`` after the change (1 s by default, the same bound as the catalog's stock
cache). ``ttl_s = 0`` turns remembering off.

When an answer expires, every request of that session in flight misses at once; the read is
made once (single flight) and the others wait for it. Without that, each expiry sent a
burst of identical reads to the database, and the burst set the read path's tail: a p99
of ~330 ms on `/api/v1/me` under 32 connections against ~25 ms without expiries
(docs/benchmarks.md, P1).
"""

from __future__ import annotations

from typing import Final

from bazaar.contexts.identity.application.queries import (
    ApiKeyRecord,
    BearerSubject,
    IdentityReadModel,
    LoginCandidate,
)
from bazaar.contexts.identity.application.views import UserView
from bazaar.contexts.identity.domain import events
from bazaar.kernel.cache import LruCache, SingleFlight
from bazaar.kernel.clock import Clock

__all__ = ["FORGETTING_EVENTS", "CachedSubjects"]

# The identity events after which a remembered subject may be wrong. Registrations, logins
# and new keys only add rows that no remembered answer mentions.
FORGETTING_EVENTS: Final = (
    events.UserLoggedOut,
    events.TenantPlanChanged,
    events.RefreshTokenReuseDetected,
)


class CachedSubjects:
    """An ``IdentityReadModel`` that remembers ``bearer_subject`` answers for ``ttl_s``.

    The other queries pass through: a login must see the current password hash, and an API
    key is compared against its stored hash on every use.
    """

    def __init__(
        self, reads: IdentityReadModel, clock: Clock, *, ttl_s: float, max_entries: int
    ) -> None:
        self._reads = reads
        self._ttl_s = ttl_s
        self._subjects: LruCache[tuple[int, int, str], BearerSubject] = LruCache(max_entries, clock)
        # Reads in flight by (key, generation). The generation moves on each forgetting:
        # a read that started before a logout neither answers a request made after it nor
        # is remembered.
        self._reading: SingleFlight[tuple[tuple[int, int, str], int], BearerSubject | None] = (
            SingleFlight()
        )
        self._generation = 0

    async def login_candidate(self, tenant_id: int, email: str) -> LoginCandidate | None:
        return await self._reads.login_candidate(tenant_id, email)

    async def bearer_subject(
        self, tenant_id: int, user_id: int, token_id: str
    ) -> BearerSubject | None:
        key = (tenant_id, user_id, token_id)
        subject = self._subjects.get(key)
        if subject is not None:
            return subject
        generation = self._generation
        subject, _ = await self._reading.do((key, generation), lambda: self._read(key, generation))
        return subject

    async def _read(self, key: tuple[int, int, str], generation: int) -> BearerSubject | None:
        subject = await self._reads.bearer_subject(*key)
        # An unknown subject is not remembered: it is rare (a signed token for a user that
        # does not exist), and not worth a place that a valid session could use.
        if subject is not None and self._ttl_s > 0 and generation == self._generation:
            self._subjects.put(key, subject, self._ttl_s)
        return subject

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        return await self._reads.api_key(prefix)

    async def user(self, tenant_id: int, user_id: int) -> UserView | None:
        return await self._reads.user(tenant_id, user_id)

    def on_event(self, event: events.IdentityEvent) -> None:
        """An ``EventListener``: forget every remembered subject after a change that matters.

        Everything rather than the one user's entries: these changes are rare next to reads,
        and a tenant's plan change concerns all of its users.
        """
        if isinstance(event, FORGETTING_EVENTS):
            self.forget_all()

    def forget_all(self) -> None:
        """Drop every remembered subject (tests and operators changing rows by hand)."""
        self._generation += 1
        self._subjects.clear()
