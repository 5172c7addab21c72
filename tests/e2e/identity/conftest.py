"""Fixtures for identity over HTTP: the app on SQLite or PostgreSQL and a small API client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from identity_http_support import CHEAP_ARGON2, AppFactory, IdentityApi

from bazaar.bootstrap import build_identity_service
from bazaar.contexts.identity.adapters import Argon2PasswordHasher
from bazaar.kernel.clock import ManualClock
from bazaar.testing.app import AppHarness, running_app


@pytest.fixture
def clock() -> ManualClock:
    # Starts at the real time, so the snowflake ids of successive tests on the shared
    # PostgreSQL database never meet; tests move it forward to expire tokens.
    return ManualClock(start=time.time())


@pytest.fixture
def open_app(database_url: str, tmp_path: Path, clock: ManualClock) -> AppFactory:
    """Open the app with extra settings (demo mode and this test's database by default)."""

    @asynccontextmanager
    async def open_(*, cheap_hashing: bool = True, **settings: Any) -> AsyncIterator[AppHarness]:
        options = {"data_dir": tmp_path / "data", "database_url": database_url, "demo": True}
        async with running_app(clock=clock, **(options | settings)) as harness:
            if cheap_hashing:
                c = harness.container
                c.identity = await build_identity_service(
                    c.settings, c.clock, c.database, passwords=Argon2PasswordHasher(CHEAP_ARGON2)
                )
            yield harness

    return open_


@pytest.fixture
async def app(open_app: AppFactory) -> AsyncIterator[AppHarness]:
    async with open_app() as harness:
        yield harness


@pytest.fixture
def api(app: AppHarness) -> IdentityApi:
    return IdentityApi(app.client)
