"""Remembered bearer subjects: served for ``ttl_s``, forgotten when this process changes them."""

from __future__ import annotations

import asyncio

import pytest

from bazaar.contexts.identity import IdentityService, TenantCreationPolicy, TokenRevokedError
from bazaar.contexts.identity.adapters import (
    Argon2PasswordHasher,
    InMemoryIdentityReadModel,
    InMemoryIdentityStore,
    JwtTokenCodec,
)
from bazaar.contexts.identity.application.queries import BearerSubject
from bazaar.contexts.identity.application.subject_cache import CachedSubjects
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.testing.hashing import CHEAP_ARGON2

PASSWORD = "correct horse battery staple"
TTL_S = 1.0


class CountingReads(InMemoryIdentityReadModel):
    """The in-memory read model, counting the subject reads that reach it."""

    def __init__(self, store: InMemoryIdentityStore) -> None:
        super().__init__(store)
        self.subject_reads = 0

        self.gate: asyncio.Event | None = None  # when set, subject reads wait for it

    async def bearer_subject(
        self, tenant_id: int, user_id: int, token_id: str
    ) -> BearerSubject | None:
        self.subject_reads += 1
        if self.gate is not None:
            await self.gate.wait()
        return await super().bearer_subject(tenant_id, user_id, token_id)


def make_service(
    store: InMemoryIdentityStore,
    codec: JwtTokenCodec,
    clock: ManualClock,
    reads: CountingReads,
    *,
    ttl_s: float,
) -> tuple[IdentityService, CachedSubjects]:
    cached = CachedSubjects(reads, clock, ttl_s=ttl_s, max_entries=100)
    service = IdentityService(
        unit_of_work=store.unit_of_work,
        reads=cached,
        passwords=Argon2PasswordHasher(CHEAP_ARGON2),
        tokens=codec,
        ids=SnowflakeGenerator(1, clock),
        clock=clock,
        refresh_token_ttl_s=86_400,
        tenant_creation=TenantCreationPolicy(open=True),
        listeners=(cached.on_event,),
    )
    return service, cached


@pytest.fixture
def reads(store: InMemoryIdentityStore) -> CountingReads:
    return CountingReads(store)


@pytest.fixture
def cached_service(
    store: InMemoryIdentityStore, codec: JwtTokenCodec, clock: ManualClock, reads: CountingReads
) -> IdentityService:
    return make_service(store, codec, clock, reads, ttl_s=TTL_S)[0]


async def customer_session(service: IdentityService) -> tuple[int, str, str]:
    """A tenant, a customer in it, and the customer's access and refresh tokens."""
    tenant = await service.create_tenant(
        name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
    )
    await service.register(tenant_id=tenant.id, email="c@acme.test", password=PASSWORD)
    pair = await service.login(tenant_id=tenant.id, email="c@acme.test", password=PASSWORD)
    return tenant.id, pair.access_token, pair.refresh_token


class TestRemembering:
    async def test_repeated_requests_read_the_subject_once_per_ttl(
        self, cached_service: IdentityService, reads: CountingReads, clock: ManualClock
    ) -> None:
        _, access, _ = await customer_session(cached_service)
        for _ in range(5):
            await cached_service.authenticate_bearer(access)
        assert reads.subject_reads == 1
        clock.advance(TTL_S)
        await cached_service.authenticate_bearer(access)
        assert reads.subject_reads == 2

    async def test_ttl_zero_reads_on_every_request(
        self,
        store: InMemoryIdentityStore,
        codec: JwtTokenCodec,
        clock: ManualClock,
        reads: CountingReads,
    ) -> None:
        service, _ = make_service(store, codec, clock, reads, ttl_s=0)
        _, access, _ = await customer_session(service)
        for _ in range(3):
            await service.authenticate_bearer(access)
        assert reads.subject_reads == 3

    async def test_forget_all_drops_every_answer(
        self,
        store: InMemoryIdentityStore,
        codec: JwtTokenCodec,
        clock: ManualClock,
        reads: CountingReads,
    ) -> None:
        service, cached = make_service(store, codec, clock, reads, ttl_s=TTL_S)
        _, access, _ = await customer_session(service)
        await service.authenticate_bearer(access)
        cached.forget_all()
        await service.authenticate_bearer(access)
        assert reads.subject_reads == 2


async def settle() -> None:
    """Let every task run until it waits on something (a few loop turns, no time)."""
    for _ in range(20):
        await asyncio.sleep(0)


class TestConcurrentMisses:
    async def test_requests_missing_together_share_one_read(
        self, cached_service: IdentityService, reads: CountingReads
    ) -> None:
        _, access, _ = await customer_session(cached_service)
        reads.gate = asyncio.Event()
        waiting = [
            asyncio.create_task(cached_service.authenticate_bearer(access)) for _ in range(10)
        ]
        await settle()
        assert reads.subject_reads == 1
        reads.gate.set()
        principals = await asyncio.gather(*waiting)
        assert {p.user_id for p in principals} == {principals[0].user_id}
        assert reads.subject_reads == 1

    async def test_a_read_in_flight_when_answers_are_forgotten_is_not_remembered(
        self,
        store: InMemoryIdentityStore,
        codec: JwtTokenCodec,
        clock: ManualClock,
        reads: CountingReads,
    ) -> None:
        # A logout or a plan change forgets every answer while a read may be under way: what
        # that read found may predate the change, so it answers its own request only.
        service, cached = make_service(store, codec, clock, reads, ttl_s=TTL_S)
        _, access, _ = await customer_session(service)
        reads.gate = asyncio.Event()
        before = asyncio.create_task(service.authenticate_bearer(access))
        await settle()
        cached.forget_all()
        reads.gate.set()
        await before
        await service.authenticate_bearer(access)
        assert reads.subject_reads == 2

    async def test_a_request_after_the_forgetting_does_not_join_the_earlier_read(
        self,
        store: InMemoryIdentityStore,
        codec: JwtTokenCodec,
        clock: ManualClock,
        reads: CountingReads,
    ) -> None:
        service, cached = make_service(store, codec, clock, reads, ttl_s=TTL_S)
        _, access, _ = await customer_session(service)
        reads.gate = asyncio.Event()
        before = asyncio.create_task(service.authenticate_bearer(access))
        await settle()
        cached.forget_all()
        after = asyncio.create_task(service.authenticate_bearer(access))
        await settle()
        assert reads.subject_reads == 2
        reads.gate.set()
        await asyncio.gather(before, after)
        await service.authenticate_bearer(access)  # the later read's answer is remembered
        assert reads.subject_reads == 2


class TestChangesInThisProcess:
    async def test_logout_refuses_the_access_token_at_the_next_request(
        self, cached_service: IdentityService
    ) -> None:
        _, access, refresh = await customer_session(cached_service)
        principal = await cached_service.authenticate_bearer(access)
        await cached_service.logout(principal, refresh)
        with pytest.raises(TokenRevokedError):
            await cached_service.authenticate_bearer(access)

    async def test_a_new_plan_applies_at_the_next_request(
        self, cached_service: IdentityService
    ) -> None:
        tenant_id, access, _ = await customer_session(cached_service)
        assert (await cached_service.authenticate_bearer(access)).plan is None
        await cached_service.change_tenant_plan(tenant_id=tenant_id, plan="gold", operator_key=None)
        assert (await cached_service.authenticate_bearer(access)).plan == "gold"


class TestChangesInAnotherProcess:
    async def test_seen_once_the_remembered_answer_expires(
        self,
        store: InMemoryIdentityStore,
        codec: JwtTokenCodec,
        clock: ManualClock,
        reads: CountingReads,
    ) -> None:
        # Two services on one store without each other's events: two API processes.
        here, _ = make_service(store, codec, clock, reads, ttl_s=TTL_S)
        there, _ = make_service(store, codec, clock, CountingReads(store), ttl_s=TTL_S)
        _, access, refresh = await customer_session(here)
        await here.authenticate_bearer(access)
        await there.logout(await there.authenticate_bearer(access), refresh)
        # The documented trade-off: up to ttl_s of the old answer...
        assert (await here.authenticate_bearer(access)).user_id
        clock.advance(TTL_S)
        # ...and no longer.
        with pytest.raises(TokenRevokedError):
            await here.authenticate_bearer(access)
