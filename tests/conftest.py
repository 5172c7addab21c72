"""Shared pytest hooks and fixtures for the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import pytest

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
