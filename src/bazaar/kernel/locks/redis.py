"""Redis lease store: leases with TTL and fencing tokens, decided atomically in Lua."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from bazaar.kernel.locks.errors import LeaseStoreError
from bazaar.kernel.locks.ports import Lease, validate_ttl

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_KEY_PREFIX", "RedisLeaseStore"]

DEFAULT_KEY_PREFIX = "bazaar:lease:"


@functools.cache
def _script_source() -> str:
    return (resources.files("bazaar.kernel.locks") / "resources" / "lease.lua").read_text(
        encoding="utf-8"
    )


@dataclass(frozen=True, slots=True)
class _Reply:
    status: str
    holder: str
    token: int
    expires_at: float


class RedisLeaseStore:
    """Leases in Redis, shared by every process of a deployment (implements ``LeaseStore``).

    A lease is a hash ``{holder, token}`` with a ``PX`` expiry, so Redis itself frees it when
    the holder stops renewing. Tokens come from ``INCR`` of a counter key that never expires;
    each operation is one ``EVALSHA`` of ``lease.lua``, which checks holder and token and
    writes atomically. Expiry runs on the Redis server's clock, and ``Lease.expires_at`` is
    reported on the server's ``TIME``, so hosts with skewed clocks agree.

    This is a single-instance lock (as Redis' ``SET NX PX`` pattern), not Redlock: if Redis
    fails over to a replica that missed the last writes, two holders can overlap. Fencing
    tokens make that safe where it matters, as long as the counter survives (persistence on);
    a flushed counter restarts tokens at 1.
    """

    def __init__(self, redis_client: Redis, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        """Create a store on a redis-py asyncio client.

        Args:
            redis_client: The client; it may decode responses or not.
            key_prefix: Prepended to every key this store writes.
        """
        self._script = redis_client.register_script(_script_source())
        self._key_prefix = key_prefix

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._key_prefix

    def keys(self, name: str) -> tuple[str, str]:
        """The lease key and the token counter key of ``name``.

        The name sits in a ``{hash tag}`` so both keys land in one Redis Cluster slot, as a
        script touching both requires; the suffixes differ, so no two names share a key.
        """
        base = f"{self._key_prefix}{{{name}}}"
        return f"{base}:lease", f"{base}:token"

    async def acquire(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.acquire``.

        Raises:
            LeaseStoreError: If Redis fails.
        """
        reply = await self._run("acquire", name, holder, _ttl_ms(ttl_s), "")
        if reply.status != "ok":
            return None
        return Lease(name, reply.holder, reply.token, reply.expires_at)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """See ``LeaseStore.renew``.

        Raises:
            LeaseStoreError: If Redis fails.
        """
        reply = await self._run("renew", lease.name, lease.holder, _ttl_ms(ttl_s), str(lease.token))
        if reply.status != "ok":
            return None
        return Lease(lease.name, lease.holder, lease.token, reply.expires_at)

    async def release(self, lease: Lease) -> None:
        """See ``LeaseStore.release``.

        Raises:
            LeaseStoreError: If Redis fails.
        """
        await self._run("release", lease.name, lease.holder, "", str(lease.token))

    async def holder(self, name: str) -> Lease | None:
        """See ``LeaseStore.holder``.

        Raises:
            LeaseStoreError: If Redis fails.
        """
        reply = await self._run("read", name, "", "", "")
        if reply.status != "ok":
            return None
        return Lease(name, reply.holder, reply.token, reply.expires_at)

    async def _run(self, op: str, name: str, holder: str, ttl_ms: str, token: str) -> _Reply:
        # Imported here, not at module level: redis-py costs ~0.25 s to import, and every
        # process loads this package whether or not Redis is configured.
        from redis.exceptions import RedisError

        try:
            raw = await self._script(keys=list(self.keys(name)), args=[op, holder, ttl_ms, token])
            return _parse(raw)
        except RedisError as exc:
            raise LeaseStoreError(name, op) from exc
        except (ValueError, TypeError) as exc:
            # A reply of the wrong shape: another version of the script owns these keys.
            raise LeaseStoreError(name, op) from exc


def _ttl_ms(ttl_s: float) -> str:
    # Rounded up: a lease never lasts less than asked.
    return str(max(1, math.ceil(validate_ttl(ttl_s) * 1000)))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(raw: object) -> _Reply:
    if not isinstance(raw, list) or len(raw) != 4:
        raise ValueError(f"unexpected lease script reply {raw!r}")
    status, holder, token, expires_ms = map(_text, raw)
    return _Reply(status, holder, int(token), int(expires_ms) / 1000)
