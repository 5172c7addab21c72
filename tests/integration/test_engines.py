"""The real-engine harness starts PostgreSQL and Redis servers that actually serve requests."""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bazaar.testing.servers import PostgresServer, RedisServer


class TestPostgresServer:
    async def test_select_version_reports_postgresql(self, postgres_url: str) -> None:
        engine = create_async_engine(postgres_url)
        try:
            async with engine.connect() as conn:
                version = (await conn.execute(text("select version()"))).scalar_one()
        finally:
            await engine.dispose()
        assert "PostgreSQL" in version

    async def test_table_round_trips_rows(self, postgres_url: str) -> None:
        engine = create_async_engine(postgres_url)
        try:
            async with engine.connect() as conn:
                # DDL is transactional in PostgreSQL: rolling back leaves the shared database clean.
                transaction = await conn.begin()
                await conn.execute(
                    text("create table harness_probe (id int primary key, name text not null)")
                )
                await conn.execute(
                    text("insert into harness_probe (id, name) values (:id, :name)"),
                    [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}],
                )
                rows = (
                    await conn.execute(text("select id, name from harness_probe order by id"))
                ).all()
                await transaction.rollback()
        finally:
            await engine.dispose()
        assert [tuple(row) for row in rows] == [(1, "alpha"), (2, "beta")]

    async def test_create_database_returns_url_of_that_database(
        self, postgres_server: PostgresServer
    ) -> None:
        url = postgres_server.create_database("bazaar_harness_probe")
        assert url == postgres_server.sqlalchemy_url("bazaar_harness_probe")
        assert postgres_server.dsn("bazaar_harness_probe").startswith("postgresql://postgres@")
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                name = (await conn.execute(text("select current_database()"))).scalar_one()
        finally:
            await engine.dispose()
        assert name == "bazaar_harness_probe"


class TestRedisServer:
    async def test_set_then_get(self, redis_url: str) -> None:
        client = aioredis.from_url(redis_url)
        try:
            await client.set("harness:probe", "ok")
            value = await client.get("harness:probe")
        finally:
            await client.aclose()
        assert value == b"ok"

    async def test_restart_loses_data_and_serves_again(self, redis_server: RedisServer) -> None:
        # A private server: restarting the session one would wipe data other tests may hold.
        with RedisServer(redis_server.executable) as server:
            before = aioredis.from_url(server.url)
            try:
                await before.set("harness:probe", "ok")
            finally:
                await before.aclose()

            server.restart()

            after = aioredis.from_url(server.url)
            try:
                pong = await after.ping()
                value = await after.get("harness:probe")
            finally:
                await after.aclose()
        assert pong is True
        assert value is None
