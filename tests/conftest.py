"""Shared pytest hooks and fixtures for the whole test suite."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import structlog

from bazaar.infra.db import Database, create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.observability.logging import configure_logging
from bazaar.testing.servers import (
    PostgresServer,
    RedisServer,
    find_postgres_bin_dir,
    find_redis_server,
    required_engines,
)

# --- hooks ---

# Marker name -> fixtures that need that engine. item.fixturenames is the transitive closure,
# so fixtures added later on top of these (sessions, clients) inherit the marker for free.
ENGINE_FIXTURES: dict[str, frozenset[str]] = {
    "postgres": frozenset({"postgres_server", "postgres_url"}),
    "redis": frozenset({"redis_server", "redis_url"}),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in ENGINE_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


# --- real engines ---

POSTGRES_MISSING = "PostgreSQL binaries not found (initdb); install postgresql or set BAZAAR_PG_BIN"
REDIS_MISSING = "redis-server not found on PATH; install redis-server or set BAZAAR_REDIS_SERVER"
TEST_DATABASE = "bazaar_test"


def _engine_unavailable(engine: str, reason: str) -> NoReturn:
    # CI sets BAZAAR_TEST_REQUIRE so a missing engine fails the run instead of skipping it.
    if engine in required_engines():
        pytest.fail(f"{reason} (required by BAZAAR_TEST_REQUIRE)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        _engine_unavailable("postgres", POSTGRES_MISSING)
    server = PostgresServer(bin_dir)
    # start() is inside the try so a half-started cluster (start error, Ctrl-C) is stopped too;
    # pytest runs this teardown at session end, including after KeyboardInterrupt.
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy async URL of the session's ``bazaar_test`` database."""
    return postgres_server.create_database(TEST_DATABASE)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    executable = find_redis_server()
    if executable is None:
        _engine_unavailable("redis", REDIS_MISSING)
    server = RedisServer(executable)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


# --- databases ---

# Upgrading is idempotent; the set only saves the session's shared PostgreSQL database
# repeated checks.
_migrated: set[str] = set()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A test's database: a SQLite file of its own, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bazaar.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The migrated database behind ``database_url``."""
    db = create_database(database_url)
    try:
        if database_url not in _migrated:
            await upgrade(db.engine)
            _migrated.add(database_url)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Route all logging (JSON lines, debug and up) to a buffer for one test, then put the
    previous setup back."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_structlog = structlog.get_config()
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
