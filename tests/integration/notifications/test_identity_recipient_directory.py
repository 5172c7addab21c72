"""Recipients come from the identity context's service, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bazaar.bootstrap import build_identity_service
from bazaar.contexts.identity import IdentityService
from bazaar.contexts.identity.adapters import Argon2PasswordHasher
from bazaar.contexts.notifications.adapters import IdentityRecipientDirectory
from bazaar.infra.db import Database
from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ids import SnowflakeGenerator
from bazaar.settings import Settings
from bazaar.testing.hashing import CHEAP_ARGON2

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def identity(database: Database, tmp_path: Path) -> IdentityService:
    # Real time at the start: ids of tests sharing the PostgreSQL database never meet.
    clock = ManualClock(start=time.time())
    return await build_identity_service(
        Settings(data_dir=tmp_path, demo=True),
        clock,
        database,
        ids=SnowflakeGenerator(977, clock),
        passwords=Argon2PasswordHasher(CHEAP_ARGON2),
    )


class TestIdentityRecipientDirectory:
    async def test_finds_the_address_of_a_user(self, identity: IdentityService) -> None:
        tenant = await identity.create_tenant(
            name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
        )
        user = await identity.register(
            tenant_id=tenant.id, email="buyer@acme.test", password=PASSWORD
        )
        directory = IdentityRecipientDirectory(identity)
        assert await directory.email_of(tenant.id, user.id) == "buyer@acme.test"

    async def test_knows_no_user_of_another_tenant(self, identity: IdentityService) -> None:
        acme = await identity.create_tenant(
            name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
        )
        other = await identity.create_tenant(
            name="Other", admin_email="admin@other.test", admin_password=PASSWORD, operator_key=None
        )
        directory = IdentityRecipientDirectory(identity)
        assert await directory.email_of(other.id, acme.admin_user_id) is None
        assert await directory.email_of(acme.id, 404) is None
