"""Redis adapters: the shared store (L2), the load lock and the pub/sub invalidation bus."""

from __future__ import annotations

import asyncio
import functools
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.trace import SpanKind, Status, StatusCode

from bazaar.kernel.cache.errors import CacheConfigurationError, CacheStoreError
from bazaar.kernel.cache.events import CacheStoreFailed
from bazaar.kernel.cache.listeners import CacheListener, NullCacheListener
from bazaar.kernel.cache.ports import validate_ttl
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.kernel.observability import tracing

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "BUS_CACHE",
    "DEFAULT_CHANNEL",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_LOCK_PREFIX",
    "RedisCacheStore",
    "RedisInvalidationBus",
    "RedisLoadLock",
    "release_script_source",
]

DEFAULT_KEY_PREFIX = "bazaar:cache:"
DEFAULT_LOCK_PREFIX = "bazaar:cache-lock:"
DEFAULT_CHANNEL = "bazaar:cache:invalidate"
BUS_CACHE = "*"  # the ``cache`` of the bus's own CacheStoreFailed events: it serves them all


@functools.cache
def release_script_source() -> str:
    """The Lua compare-and-delete that releases a load lock (``resources/release_lock.lua``)."""
    path = resources.files("bazaar.kernel.cache") / "resources" / "release_lock.lua"
    return path.read_text(encoding="utf-8")


@functools.cache
def _driver_errors() -> tuple[type[BaseException], ...]:
    # Imported on first use, not at module level: redis-py costs ~0.25 s to import, and every
    # process loads this package whether or not Redis is configured. UnicodeError: a key
    # with a lone surrogate fails in the client's encoder, and must not fail a read.
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError, UnicodeError)


def _check_bytes_client(redis: Redis) -> None:
    if redis.connection_pool.connection_kwargs.get("decode_responses"):
        raise CacheConfigurationError(
            "redis", "the client decodes responses; the cache stores bytes"
        )


def _px(ttl_s: float) -> int:
    # Rounded up: an entry never lives shorter than asked.
    return max(1, math.ceil(validate_ttl(ttl_s) * 1000))


class RedisCacheStore:
    """The L2 in Redis (implements ``CacheStore``): ``GET``/``SET PX``/``DEL``/``INCR``.

    Every key is ``<key_prefix><key>``. Values are the bytes ``LayeredCache`` writes; expiry
    is Redis' own, on the server's clock. Driver errors become ``CacheStoreError``.
    """

    __slots__ = ("_execute", "_key_prefix")

    def __init__(self, redis: Redis, *, prefix: str = DEFAULT_KEY_PREFIX) -> None:
        """Create a store on a redis-py asyncio client.

        Args:
            redis: The client; it must return bytes (``decode_responses=False``).
            prefix: Prepended to every key this store writes.

        Raises:
            CacheConfigurationError: If the client decodes responses.
        """
        _check_bytes_client(redis)
        # (execute_command is untyped in redis-py; bound once, it is called typed.)
        self._execute: Callable[..., Awaitable[Any]] = _traced(redis.execute_command)
        self._key_prefix = prefix

    @property
    def prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._key_prefix

    def redis_key(self, key: str) -> str:
        """The Redis key holding ``key`` (for operators and tests)."""
        return self._key_prefix + key

    async def get(self, key: str) -> bytes | None:
        """See ``CacheStore.get``.

        Raises:
            CacheStoreError: If Redis fails.
        """
        try:
            value = await self._execute("GET", self._key_prefix + key)
        except _driver_errors() as exc:
            raise CacheStoreError("get", type(exc).__name__) from exc
        return _as_bytes(value, "get")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """See ``CacheStore.set``.

        Raises:
            ValueError: If ``ttl_s`` is not a finite number above 0.
            CacheStoreError: If Redis fails.
        """
        px = _px(ttl_s)
        try:
            await self._execute("SET", self._key_prefix + key, value, "PX", px)
        except _driver_errors() as exc:
            raise CacheStoreError("set", type(exc).__name__) from exc

    async def delete(self, *keys: str) -> int:
        """See ``CacheStore.delete``.

        Raises:
            CacheStoreError: If Redis fails.
        """
        if not keys:
            return 0
        try:
            removed = await self._execute("DEL", *(self._key_prefix + k for k in set(keys)))
        except _driver_errors() as exc:
            raise CacheStoreError("delete", type(exc).__name__) from exc
        return int(removed)

    async def incr(self, key: str) -> int:
        """See ``CacheStore.incr``.

        Raises:
            CacheStoreError: If Redis fails or the key holds something other than a counter.
        """
        try:
            return int(await self._execute("INCR", self._key_prefix + key))
        except _driver_errors() as exc:
            raise CacheStoreError("incr", type(exc).__name__) from exc

    async def get_int(self, key: str) -> int | None:
        """See ``CacheStore.get_int``.

        Raises:
            CacheStoreError: If Redis fails or the key holds something other than a counter.
        """
        value = await self.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise CacheStoreError("get_int", "the key holds a value, not a counter") from exc


def _traced(execute: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``execute`` with a client span per command (capabilities §10.1) inside a recorded trace.

    Spans are named by the command only: keys name tenants and products, and a name must
    stay one of few.
    """

    async def traced(command: str, *args: Any) -> Any:
        if not tracing.in_recorded_trace():
            return await execute(command, *args)
        with tracing.child_span(
            f"redis {command}",
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": "redis", "db.operation.name": command},
        ) as span:
            try:
                return await execute(command, *args)
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    return traced


def _as_bytes(value: object, operation: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    raise CacheStoreError(operation, f"unexpected reply of type {type(value).__name__}")


class RedisLoadLock:
    """A load lock in Redis (implements ``LoadLock``): ``SET key token NX PX``, released by
    a Lua compare-and-delete (``resources/release_lock.lua``) so a holder whose lock expired
    never frees the next holder's.

    Single-instance, as in the Redis documentation's pattern, not Redlock: good enough to
    stop a stampede, which is all a load lock is for.
    """

    __slots__ = ("_execute", "_key_prefix", "_release")

    def __init__(self, redis: Redis, *, prefix: str = DEFAULT_LOCK_PREFIX) -> None:
        """Create a lock table on a redis-py asyncio client.

        Args:
            redis: The client; it must return bytes (``decode_responses=False``).
            prefix: Prepended to every lock key.

        Raises:
            CacheConfigurationError: If the client decodes responses.
        """
        _check_bytes_client(redis)
        self._execute: Callable[..., Awaitable[Any]] = _traced(redis.execute_command)
        # register_script runs EVALSHA and loads the script again if Redis has lost it.
        self._release = redis.register_script(release_script_source())
        self._key_prefix = prefix

    def redis_key(self, key: str) -> str:
        """The Redis key of the lock on ``key`` (for operators and tests)."""
        return self._key_prefix + key

    async def acquire(self, key: str, ttl_s: float) -> str | None:
        """See ``LoadLock.acquire``.

        Raises:
            ValueError: If ``ttl_s`` is not a finite number above 0.
            CacheStoreError: If Redis fails.
        """
        px = _px(ttl_s)
        token = uuid.uuid4().hex
        try:
            taken = await self._execute("SET", self._key_prefix + key, token, "NX", "PX", px)
        except _driver_errors() as exc:
            raise CacheStoreError("acquire", type(exc).__name__) from exc
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        """See ``LoadLock.release``.

        Raises:
            CacheStoreError: If Redis fails.
        """
        try:
            await self._release(keys=[self._key_prefix + key], args=[token])
        except _driver_errors() as exc:
            raise CacheStoreError("release", type(exc).__name__) from exc


class RedisInvalidationBus:
    """An ``InvalidationBus`` on Redis pub/sub, one channel for every cache.

    A message is the JSON ``{"origin", "cache", "keys"}``; ``origin`` is this bus's id, so
    ``run`` skips the messages this bus published. Pub/sub is at most once: a process that
    is disconnected misses what is published meanwhile, and L1 TTLs bound the staleness.

    ``run`` subscribes and delivers until cancelled. When the connection fails (after
    redis-py's own retries), it emits ``CacheStoreFailed(cache="*", operation="subscribe")``,
    sleeps on the injected clock (``min_backoff_s``, doubling up to ``max_backoff_s``, back
    to the minimum once subscribed again) and subscribes again. A message that is not valid
    JSON of that shape is skipped and reported (``operation="decode"``).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        channel: str = DEFAULT_CHANNEL,
        clock: Clock | None = None,
        listener: CacheListener | None = None,
        origin: str | None = None,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        """Create a bus on a redis-py asyncio client.

        Args:
            redis: The client (it may decode responses or not).
            channel: The pub/sub channel every process of the deployment shares.
            clock: Whose ``sleep`` paces reconnections; the system clock if None.
            listener: Where connection failures are reported.
            origin: This process's id; a random one if None.
            min_backoff_s: The first wait after a failure.
            max_backoff_s: The longest wait between attempts.

        Raises:
            CacheConfigurationError: If the backoff bounds are not ``0 < min <= max``.
        """
        if not 0 < min_backoff_s <= max_backoff_s:
            raise CacheConfigurationError(
                "backoff",
                f"need 0 < min_backoff_s <= max_backoff_s, got {min_backoff_s}, {max_backoff_s}",
            )
        self._redis = redis
        self._clock = clock if clock is not None else SystemClock()
        self._listener = listener if listener is not None else NullCacheListener()
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self.channel = channel
        self.origin = origin if origin is not None else uuid.uuid4().hex
        self._subscribed = asyncio.Event()

    async def publish(self, cache: str, keys: Sequence[str]) -> None:
        """See ``InvalidationBus.publish``.

        Raises:
            CacheStoreError: If Redis fails.
        """
        payload = orjson.dumps({"origin": self.origin, "cache": cache, "keys": list(keys)})
        try:
            await self._redis.publish(self.channel, payload)
        except _driver_errors() as exc:
            raise CacheStoreError("publish", type(exc).__name__) from exc

    async def run(self, on_message: Callable[[str, list[str]], None]) -> None:
        """See ``InvalidationBus.run``; returns only by being cancelled."""
        subscribed = self._subscribed
        backoff = self._min_backoff_s
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        subscribed.set()
                        backoff = self._min_backoff_s
                    elif message["type"] == "message":
                        self._deliver(message["data"], on_message)
            except _driver_errors() as exc:
                subscribed.clear()
                self._listener.on_event(
                    CacheStoreFailed(BUS_CACHE, "subscribe", type(exc).__name__)
                )
            finally:
                await _close_quietly(pubsub)
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def wait_subscribed(self) -> None:
        """Return once ``run`` is subscribed (for tests that publish right after starting it)."""
        await self._subscribed.wait()

    def _deliver(self, data: object, on_message: Callable[[str, list[str]], None]) -> None:
        try:
            if not isinstance(data, bytes | str):
                raise TypeError(f"a message of type {type(data).__name__}")
            message = orjson.loads(data)
            origin, cache, keys = message["origin"], message["cache"], message["keys"]
            if not (
                isinstance(cache, str)
                and isinstance(keys, list)
                and all(isinstance(key, str) for key in keys)
            ):
                raise TypeError("cache must be a string and keys a list of strings")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._listener.on_event(CacheStoreFailed(BUS_CACHE, "decode", type(exc).__name__))
            return
        if origin == self.origin:
            return
        try:
            on_message(cache, keys)
        except Exception as exc:
            # A subscriber that raises breaks its contract; one bad message must not end the
            # loop that keeps every L1 of the process coherent.
            self._listener.on_event(CacheStoreFailed(cache, "deliver", type(exc).__name__))


async def _close_quietly(pubsub: Any) -> None:
    # Closing a connection that has already failed can fail again; the loop goes on anyway.
    try:
        await pubsub.aclose()
    except _driver_errors():
        pass
