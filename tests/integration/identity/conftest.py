"""Fixtures for identity on real engines: a migrated SQLite or PostgreSQL database per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import argon2
import pytest

from bazaar.contexts.identity import IdentityService, TenantCreationPolicy
from bazaar.contexts.identity.adapters import (
    Argon2PasswordHasher,
    JwtTokenCodec,
    SqlIdentityReadModel,
    SqlIdentityUnitOfWork,
)
from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.infra.keys import load_keyring
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator

START = 1_800_000_000.0
CHEAP_ARGON2 = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=16,
    time_cost=1,
    memory_cost=64,
    parallelism=1,
)
# The PostgreSQL database is shared by the session and every test's clock starts at START:
# a worker id of its own per test keeps the snowflake ids of different tests apart.
_worker_ids = itertools.count(1)
_migrated: set[str] = set()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = create_database(database_url)
    try:
        # Upgrading is idempotent; the set only saves the shared database repeated checks.
        if database_url not in _migrated:
            await upgrade(db.engine)
            _migrated.add(database_url)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


ServiceFactory = Callable[[argon2.Parameters], IdentityService]


@pytest.fixture
def make_service(database: Database, clock: ManualClock, tmp_path: Path) -> ServiceFactory:
    """Services over the same database, clock and keys, with the given argon2 parameters."""

    def make(parameters: argon2.Parameters) -> IdentityService:
        return _service(database, clock, tmp_path / "keys", parameters)

    return make


def _service(
    database: Database, clock: ManualClock, keys_dir: Path, parameters: argon2.Parameters
) -> IdentityService:
    keyring = load_keyring(secret=None, private_key_file=None, keys_dir=keys_dir)
    return IdentityService(
        unit_of_work=lambda: SqlIdentityUnitOfWork(database.sessions),
        reads=SqlIdentityReadModel(database.read_engine),
        passwords=Argon2PasswordHasher(parameters),
        tokens=JwtTokenCodec(
            keyring, issuer="bazaar", audience="bazaar-api", ttl_s=900, clock=clock
        ),
        ids=SnowflakeGenerator(next(_worker_ids) % (MAX_WORKER_ID + 1), clock),
        clock=clock,
        refresh_token_ttl_s=7 * 86_400,
        tenant_creation=TenantCreationPolicy(open=True),
    )


@pytest.fixture
def service(make_service: ServiceFactory) -> IdentityService:
    return make_service(CHEAP_ARGON2)
