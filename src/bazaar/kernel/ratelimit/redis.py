"""Redis rate-limit store: every process shares each key's state; one EVALSHA per decision."""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from bazaar.kernel.clock import Clock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ratelimit.errors import RateLimitStoreError
from bazaar.kernel.ratelimit.policy import Algorithm, Decision, RateLimit, make_decision

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = ["DEFAULT_KEY_PREFIX", "RedisRateLimitStore", "script_source"]

DEFAULT_KEY_PREFIX = "bazaar:rl:"

# Short tags keep the keys readable in redis-cli without making them long. A tag changes
# when its state changes type: the sliding log was a list under "sl", it is a string under
# "lg", so processes of both versions never read each other's state as the wrong type.
_TAGS = {
    Algorithm.FIXED_WINDOW: "fw",
    Algorithm.SLIDING_LOG: "lg",
    Algorithm.SLIDING_WINDOW: "sw",
    Algorithm.TOKEN_BUCKET: "tb",
    Algorithm.LEAKY_BUCKET: "lb",
}
# The scripts' argument and reply: little-endian doubles (see resources/prelude.lua).
_ARGS = struct.Struct("<3d").pack  # limit, period, cost: the server's TIME is now
_ARGS_AT = struct.Struct("<4d").pack  # limit, period, cost, now
_REPLY = struct.Struct("<5d").unpack  # allowed, remaining, reset_at, retry_after, delay
# Key names remembered per limit (~100 bytes each); past this the memory is emptied.
_MAX_NAMES = 10_000


def _bulk(value: bytes) -> bytes:
    """``value`` as a RESP bulk string, one argument of a command on the wire."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _read(name: str) -> str:
    path = resources.files("bazaar.kernel.ratelimit") / "resources" / name
    return path.read_text(encoding="utf-8")


@functools.cache
def script_source(algorithm: Algorithm) -> str:
    """The Lua script deciding ``algorithm``: the shared prelude, then the algorithm's body.

    Args:
        algorithm: Which script.

    Returns:
        The script's source, as sent by ``SCRIPT LOAD``.
    """
    return _read("prelude.lua") + _read(f"{algorithm.value}.lua")


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything about one limit a decision needs, worked out once."""

    algorithm: Algorithm
    spec: str
    key_head: str  # prefix + algorithm tag
    salt: bytes  # the spec: the same key under two limits must hash apart
    # The command on the wire is head + the key's name + the argument, each a bulk string.
    head: bytes  # EVALSHA, the script's SHA-1, one key
    unit_args: bytes  # the argument for cost 1 on server time (the common case), as sent
    # Redis key name by caller key, as sent: hashing one costs ~0.5 µs, and the same
    # callers come back again and again. Bounded: emptied when full (see _MAX_NAMES).
    names: dict[str, bytes]


class RedisRateLimitStore:
    """Rate-limit state in Redis, shared by every API process (implements ``RateLimitStore``).

    A decision is one ``EVALSHA`` of the algorithm's script (``resources/*.lua``), which reads
    the key's state, applies the same arithmetic as the pure core and writes the new state
    atomically: concurrent callers on any number of processes never over-admit. If Redis has
    lost the script (restart, ``SCRIPT FLUSH``) it is loaded and the call retried once.

    Keys are ``<key_prefix><tag>:<hash>``, the hash (BLAKE2b, 96 bits, in hex) taken over the
    limit's spec and the caller's key: short, fixed-length, and the raw key (an IP, an
    e-mail) never appears in Redis. A key expires at least a second after its state would be
    fresh again, and a second after that at the latest for the windows; a bucket's key lives
    at most a period and a second past its last write (see resources/token_bucket.lua).

    Time comes from the Redis server's ``TIME`` by default, so hosts with skewed clocks agree;
    a ``clock`` passed in is used instead (tests drive the scripts with a ``ManualClock``).

    Every API request makes a decision, so its cost on the client is the rate limiter's
    cost. A decision goes to Redis as bytes assembled from parts worked out once per limit
    and per caller, on a connection of the client's pool, rather than through redis-py's
    command layer: that layer (packing each argument, the retry wrapper, instrumentation
    hooks) made a five-argument EVALSHA cost ~3 µs more client CPU than a GET, out of ~50
    (docs/benchmarks.md, P6). Connection handling (connecting, health checks, AUTH, TLS,
    dropping a broken connection) stays redis-py's; its retry policy does not apply: a
    broken connection is tried once more, afresh (see ``_run``), and anything else goes to
    the caller's failure mode at once.
    """

    __slots__ = (
        "_acquire",
        "_broken",
        "_errors",
        "_execute",
        "_key_prefix",
        "_no_script",
        "_now",
        "_plans",
        "_release",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Clock | None = None,
    ) -> None:
        """Create a store on a redis-py asyncio client.

        Args:
            redis: The client, on a connection pool. It must return bytes
                (``decode_responses=False``): the scripts answer in packed doubles.
            key_prefix: Prepended to every key this store writes.
            clock: For tests: the scripts then take ``now`` from ``clock.now()`` instead of
                the server's ``TIME``. None (production) means server time.

        Raises:
            ConfigurationError: If the client decodes responses or holds a single connection.
        """
        # Imported here, not at module level: redis-py costs ~0.25 s to import, and every
        # process loads this package whether or not Redis is configured.
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import NoScriptError, RedisError

        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError(
                "redis", "the client decodes responses; the scripts answer in bytes"
            )
        if redis.single_connection_client:
            raise ConfigurationError(
                "redis", "the client holds one connection; decisions need its pool"
            )
        # (execute_command is untyped in redis-py; bound once, it is called typed.)
        self._execute: Callable[..., Awaitable[Any]] = redis.execute_command
        # (get_connection is untyped too: bound once, typed.)
        pool = redis.connection_pool
        self._acquire: Callable[[], Awaitable[AbstractConnection]] = pool.get_connection
        self._release = pool.release
        self._key_prefix = key_prefix
        self._now = clock.now if clock is not None else None
        self._errors = RedisError
        self._broken = RedisConnectionError
        self._no_script = NoScriptError
        self._plans: dict[str, _Plan] = {}  # by spec: a str hashes in C, a RateLimit in Python

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._key_prefix

    def redis_key(self, limit: RateLimit, key: str) -> str:
        """The Redis key holding ``key``'s state under ``limit`` (for operators and tests).

        Args:
            limit: The limit.
            key: The caller's key.

        Returns:
            The Redis key name.
        """
        return self._key(self._plan(limit), key)

    async def decide(self, limit: RateLimit, key: str, cost: int = 1) -> Decision:
        """See ``RateLimitStore.decide``.

        Raises:
            ValueError: If ``cost`` is negative or greater than ``limit.limit``.
            RateLimitStoreError: If Redis fails or answers with something unexpected.
        """
        if not 0 <= cost <= limit.limit:
            raise ValueError(f"cost must be between 0 and the limit {limit.limit}, got {cost}")
        plan = self._plans.get(limit.spec) or self._plan(limit)
        name = plan.names.get(key) or self._name(plan, key)
        if self._now is not None:
            args = _bulk(_ARGS_AT(limit.limit, limit.period_s, cost, self._now()))
        elif cost == 1:
            args = plan.unit_args
        else:
            args = _bulk(_ARGS(limit.limit, limit.period_s, cost))
        command = plan.head + name + args
        try:
            try:
                raw = await self._run(command)
            except self._no_script:
                await self._execute("SCRIPT", "LOAD", script_source(plan.algorithm))
                raw = await self._run(command)
            allowed, remaining, reset_at, retry_after, delay = _REPLY(raw)
        except self._errors as exc:
            raise RateLimitStoreError("decide", plan.spec) from exc
        except (struct.error, TypeError) as exc:
            # A reply of the wrong shape: another version of the scripts owns these keys.
            raise RateLimitStoreError("decide", plan.spec) from exc
        return make_decision(
            allowed == 1.0, limit.limit, int(remaining), reset_at, retry_after, delay
        )

    async def reset(self, limit: RateLimit, key: str) -> None:
        """See ``RateLimitStore.reset``.

        Raises:
            RateLimitStoreError: If Redis fails.
        """
        plan = self._plan(limit)
        try:
            await self._execute("DEL", self._key(plan, key))
        except self._errors as exc:
            raise RateLimitStoreError("reset", plan.spec) from exc

    async def _run(self, command: bytes) -> Any:
        """Send one packed command and read its reply, again once if the connection broke.

        A pooled connection the server has closed (a restart, its idle timeout) is only
        found out on use. The failed connection has disconnected itself, so the second
        attempt connects afresh: it tells a dead connection from a Redis that is down.
        (If the first command did reach Redis and only its reply was lost, the retry counts
        the request twice: the caller is limited a little early, never let through.)
        Timeouts are not retried: a slow Redis gets the failure mode's answer at once.
        """
        try:
            return await self._exchange(command)
        except self._broken:
            return await self._exchange(command)

    async def _exchange(self, command: bytes) -> Any:
        """One command on a pooled connection; an error reply is raised (``ResponseError``)
        with the connection still usable, any other failure disconnects it."""
        connection = await self._acquire()
        try:
            await connection.send_packed_command(command)
            return await connection.read_response()
        finally:
            await self._release(connection)

    def _plan(self, limit: RateLimit) -> _Plan:
        spec = limit.spec
        plan = self._plans.get(spec)
        if plan is None:
            sha = hashlib.sha1(
                script_source(limit.algorithm).encode(), usedforsecurity=False
            ).hexdigest()
            plan = self._plans[spec] = _Plan(
                algorithm=limit.algorithm,
                spec=spec,
                key_head=f"{self._key_prefix}{_TAGS[limit.algorithm]}:",
                salt=spec.encode() + b"\x00",
                head=b"*5\r\n" + _bulk(b"EVALSHA") + _bulk(sha.encode()) + _bulk(b"1"),
                unit_args=_bulk(_ARGS(limit.limit, limit.period_s, 1)),
                names={},
            )
        return plan

    def _name(self, plan: _Plan, key: str) -> bytes:
        """``_key(plan, key)`` as sent, remembered in the plan."""
        names = plan.names
        if len(names) >= _MAX_NAMES:
            names.clear()  # cheaper than an LRU, and a refill costs only the hashing
        name = names[key] = _bulk(self._key(plan, key).encode())
        return name

    @staticmethod
    def _key(plan: _Plan, key: str) -> str:
        try:
            raw = key.encode()
        except UnicodeEncodeError:
            # A lone surrogate (a badly decoded header) is still somebody's key.
            raw = key.encode("utf-8", "surrogatepass")
        return plan.key_head + hashlib.blake2b(plan.salt + raw, digest_size=12).hexdigest()
