"""Test-support helpers: real PostgreSQL and Redis servers started from installed binaries."""

from __future__ import annotations

from bazaar.testing.servers import (
    PostgresServer,
    RedisServer,
    ServerStartError,
    find_free_port,
    find_postgres_bin_dir,
    find_redis_server,
    required_engines,
)

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "find_free_port",
    "find_postgres_bin_dir",
    "find_redis_server",
    "required_engines",
]
