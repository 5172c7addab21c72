"""Fixtures for the identity unit tests: a manual clock, keys, and the service in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar.contexts.identity import IdentityService, TenantCreationPolicy
from bazaar.contexts.identity.adapters import (
    Argon2PasswordHasher,
    InMemoryIdentityReadModel,
    InMemoryIdentityStore,
    JwtTokenCodec,
)
from bazaar.contexts.identity.domain.events import IdentityEvent
from bazaar.infra.keys import Keyring, load_keyring
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.testing.hashing import CHEAP_ARGON2

# After the snowflake epoch (2024), unlike ManualClock's default start.
START = 1_800_000_000.0
ACCESS_TTL_S = 900
REFRESH_TTL_S = 7 * 86_400


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "keys")


@pytest.fixture
def codec(keyring: Keyring, clock: ManualClock) -> JwtTokenCodec:
    return JwtTokenCodec(
        keyring, issuer="bazaar", audience="bazaar-api", ttl_s=ACCESS_TTL_S, clock=clock
    )


@pytest.fixture
def store() -> InMemoryIdentityStore:
    return InMemoryIdentityStore()


@pytest.fixture
def published() -> list[IdentityEvent]:
    return []


@pytest.fixture
def service(
    store: InMemoryIdentityStore,
    codec: JwtTokenCodec,
    clock: ManualClock,
    published: list[IdentityEvent],
) -> IdentityService:
    return IdentityService(
        unit_of_work=store.unit_of_work,
        reads=InMemoryIdentityReadModel(store),
        passwords=Argon2PasswordHasher(CHEAP_ARGON2),
        tokens=codec,
        ids=SnowflakeGenerator(1, clock),
        clock=clock,
        refresh_token_ttl_s=REFRESH_TTL_S,
        tenant_creation=TenantCreationPolicy(open=True),
        listeners=(published.append,),
    )
