"""Fixtures for identity on real engines: a migrated SQLite or PostgreSQL database per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable
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
from bazaar.infra.db import Database
from bazaar.infra.keys import load_keyring
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import MAX_WORKER_ID, SnowflakeGenerator
from bazaar.testing.hashing import CHEAP_ARGON2

START = 1_800_000_000.0
# The PostgreSQL database is shared by the session and every test's clock starts at START:
# a worker id of its own per test keeps the snowflake ids of different tests apart.
_worker_ids = itertools.count(1)


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
