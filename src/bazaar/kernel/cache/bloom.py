"""Bloom filters of existing ids, kept in front of a store to turn away lookups of absent ids."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import secrets
import struct
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from bazaar.kernel.cache.errors import CacheConfigurationError, CacheError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "DEFAULT_BLOOM_KEY_PREFIX",
    "MAX_BLOOM_BITS",
    "BloomFilter",
    "BloomFilterError",
    "BloomFilterNotReadyError",
    "BloomFilterRebuildConflictError",
    "BloomFilterUnavailableError",
    "BloomKey",
    "BloomParameters",
    "InMemoryBloomFilter",
    "LocalBloomFilter",
    "RedisBloomFilter",
    "bloom_positions",
]

BloomKey: TypeAlias = str | int
"""An id: a string, or an integer standing for its decimal text (``42`` and ``"42"`` agree)."""

DEFAULT_BLOOM_KEY_PREFIX = "bazaar:bloom:"
# A Redis string holds at most 512 MiB: 2**32 bits.
MAX_BLOOM_BITS = 2**32
# Keys per round trip when adding or rebuilding in bulk: a few thousand Lua arguments.
_CHUNK = 1000
_HALVES = struct.Struct("<QQ")


class BloomFilterError(CacheError):
    """An error raised by a Bloom filter.

    CacheError                                  (bazaar.kernel.cache.errors)
    └── BloomFilterError
        ├── BloomFilterUnavailableError         the shared filter could not answer: ask the store
        │   └── BloomFilterNotReadyError        it has not been built (or Redis lost it)
        └── BloomFilterRebuildConflictError     another rebuild of the same filter holds it

    Sizing with numbers it cannot work with raises ``CacheConfigurationError``.
    """


class BloomFilterUnavailableError(BloomFilterError):
    """The filter could not answer; the driver's exception is chained.

    The filter is an optimisation, never a source of truth: a caller catching this asks
    the store, exactly as for a "might contain" answer.
    """

    def __init__(self, name: str, operation: str) -> None:
        super().__init__(f"bloom filter {name!r} failed to {operation}")
        self.name = name
        self.operation = operation


class BloomFilterNotReadyError(BloomFilterUnavailableError):
    """The filter does not exist yet (never rebuilt, or evicted); it answers after ``rebuild``."""

    def __init__(self, name: str) -> None:
        BloomFilterError.__init__(self, f"bloom filter {name!r} has not been built")
        self.name = name
        self.operation = "answer"


class BloomFilterRebuildConflictError(BloomFilterError):
    """Another rebuild of the filter owns the filter being built; this one stopped.

    Either one began while this one ran, or this one went quiet for longer than its
    ``rebuild_ttl_s`` and the other took over. The live filter is whatever the other makes it.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"another rebuild of bloom filter {name!r} is in progress")
        self.name = name


@dataclass(frozen=True, slots=True)
class BloomParameters:
    """A Bloom filter's size: ``bits`` (m) and how many of them each key sets (k).

    Build it from the expected number of ids and the false-positive rate wanted with
    ``for_capacity``; past that many ids the rate climbs (see ``false_positive_rate``).
    """

    bits: int
    hashes: int

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= MAX_BLOOM_BITS:
            raise CacheConfigurationError("bits", f"must be in 1..2**32, got {self.bits}")
        if self.hashes < 1:
            raise CacheConfigurationError("hashes", f"must be at least 1, got {self.hashes}")

    @classmethod
    def for_capacity(cls, expected_items: int, false_positive_rate: float) -> BloomParameters:
        """Size a filter for ``expected_items`` ids at ``false_positive_rate``.

        m = ceil(-n ln p / (ln 2)^2) and k = round(m/n ln 2), at least 1: the optimum for
        n items (Broder and Mitzenmacher, "Network Applications of Bloom Filters", 2004).

        Args:
            expected_items: How many ids the filter will hold (n), at least 1.
            false_positive_rate: The share of absent ids to report present (p), in (0, 1).

        Returns:
            The parameters.

        Raises:
            CacheConfigurationError: If n < 1, p is not strictly between 0 and 1, or the filter
                would need more than 2**32 bits.
        """
        if isinstance(expected_items, bool) or expected_items < 1:
            raise CacheConfigurationError(
                "expected_items", f"must be at least 1, got {expected_items!r}"
            )
        if not 0.0 < false_positive_rate < 1.0:
            raise CacheConfigurationError(
                "false_positive_rate", f"must be between 0 and 1, got {false_positive_rate!r}"
            )
        ln2 = math.log(2)
        bits = math.ceil(-expected_items * math.log(false_positive_rate) / (ln2 * ln2))
        hashes = max(1, round(bits / expected_items * ln2))
        return cls(bits=bits, hashes=hashes)

    def false_positive_rate(self, items: int) -> float:
        """The expected false-positive rate with ``items`` distinct ids in: (1 - e^(-kn/m))^k."""
        return float((1.0 - math.exp(-self.hashes * items / self.bits)) ** self.hashes)


def _key_bytes(key: BloomKey) -> bytes:
    if isinstance(key, str):
        try:
            return key.encode()
        except UnicodeEncodeError:
            return key.encode("utf-8", "surrogatepass")
    if isinstance(key, int) and not isinstance(key, bool):
        return b"%d" % key
    raise TypeError(f"a bloom filter key is a str or an int, got {type(key).__name__}")


def bloom_positions(key: BloomKey, params: BloomParameters) -> list[int]:
    """The ``params.hashes`` bit offsets ``key`` sets, by double hashing.

    One 128-bit BLAKE2b digest gives two 64-bit hashes h1, h2, and offset i is
    h1 + i·h2 mod m: as good as k independent hashes (Kirsch and Mitzenmacher, "Less
    Hashing, Same Performance", 2006). The digest is stable across processes and versions,
    unlike ``hash()``, so every process (and Redis) agrees. h2 is made odd so it is never 0.

    Args:
        key: The id; an int counts as its decimal text.
        params: The filter's size.

    Returns:
        The offsets, in ``0..params.bits - 1`` (repeats possible).

    Raises:
        TypeError: If ``key`` is neither a str nor an int.
    """
    h1, h2 = _HALVES.unpack(hashlib.blake2b(_key_bytes(key), digest_size=16).digest())
    bits = params.bits
    position, step = h1 % bits, (h2 | 1) % bits
    positions = []
    for _ in range(params.hashes):
        positions.append(position)
        position = (position + step) % bits
    return positions


async def _chunks(
    keys: Iterable[BloomKey] | AsyncIterable[BloomKey], size: int
) -> AsyncIterator[list[BloomKey]]:
    chunk: list[BloomKey] = []
    if isinstance(keys, AsyncIterable):
        async for key in keys:
            chunk.append(key)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    else:
        for key in keys:
            chunk.append(key)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


@runtime_checkable
class BloomFilter(Protocol):
    """A set of ids that answers "certainly absent" or "might be present" (the port).

    It never forgets an id added (no false negatives) and wrongly claims a share of absent
    ids, about the rate it was sized for. Ids cannot be removed: ``rebuild`` from the source
    of truth now and then clears out deleted ones and the false positives they cause.
    """

    async def add(self, key: BloomKey) -> None:
        """Add one id (after the store committed it).

        Raises:
            BloomFilterUnavailableError: If a shared filter cannot be reached.
        """
        ...

    async def add_many(self, keys: Iterable[BloomKey]) -> None:
        """Add several ids.

        Raises:
            BloomFilterUnavailableError: If a shared filter cannot be reached.
        """
        ...

    async def might_contain(self, key: BloomKey) -> bool:
        """False if ``key`` was certainly never added; True if it might have been.

        Raises:
            BloomFilterUnavailableError: If the filter cannot answer; ask the store.
        """
        ...

    async def rebuild(self, keys: Iterable[BloomKey] | AsyncIterable[BloomKey]) -> int:
        """Replace the contents with ``keys``, atomically: readers see the old filter or the
        new one. Ids added while the rebuild runs are kept.

        Returns:
            How many keys the source gave.

        Raises:
            BloomFilterUnavailableError: If a shared filter cannot be reached.
            BloomFilterRebuildConflictError: If another rebuild took over.
        """
        ...


@runtime_checkable
class LocalBloomFilter(Protocol):
    """Optional capability: the bits live in this process and answers need no await."""

    def might_contain_now(self, key: BloomKey) -> bool:
        """``BloomFilter.might_contain``, synchronously."""
        ...

    def add_now(self, key: BloomKey) -> None:
        """``BloomFilter.add``, synchronously."""
        ...


class InMemoryBloomFilter:
    """A Bloom filter in a ``bytearray`` (implements ``BloomFilter`` and ``LocalBloomFilter``).

    Bit i is bit ``7 - i % 8`` of byte ``i // 8``, Redis's ``SETBIT`` order, so the bytes
    equal those the Redis adapter keeps for the same ids. Every operation is synchronous
    underneath, hence atomic on the event loop; not for sharing between threads.
    """

    __slots__ = ("_bits", "_building", "name", "params")

    def __init__(self, params: BloomParameters, *, name: str = "bloom") -> None:
        """Create an empty filter (every answer "absent" until ids are added).

        Args:
            params: The filter's size.
            name: For errors and operators.
        """
        self.params = params
        self.name = name
        self._bits = bytearray((params.bits + 7) // 8)
        self._building: list[bytearray] = []

    def add_now(self, key: BloomKey) -> None:
        """Add one id."""
        for position in bloom_positions(key, self.params):
            mask = 0x80 >> (position & 7)
            self._bits[position >> 3] |= mask
            for bits in self._building:
                bits[position >> 3] |= mask

    def add_many_now(self, keys: Iterable[BloomKey]) -> None:
        """Add several ids."""
        for key in keys:
            self.add_now(key)

    def might_contain_now(self, key: BloomKey) -> bool:
        """False if ``key`` was certainly never added."""
        bits = self._bits
        return all(
            bits[position >> 3] & (0x80 >> (position & 7))
            for position in bloom_positions(key, self.params)
        )

    async def add(self, key: BloomKey) -> None:
        """See ``BloomFilter.add``."""
        self.add_now(key)

    async def add_many(self, keys: Iterable[BloomKey]) -> None:
        """See ``BloomFilter.add_many``."""
        self.add_many_now(keys)

    async def might_contain(self, key: BloomKey) -> bool:
        """See ``BloomFilter.might_contain``."""
        return self.might_contain_now(key)

    async def rebuild(self, keys: Iterable[BloomKey] | AsyncIterable[BloomKey]) -> int:
        """See ``BloomFilter.rebuild``; the new bits replace the old in one assignment."""
        bits = bytearray(len(self._bits))
        # Registered before the source is read: an id the store commits meanwhile, and adds
        # here, is in the new filter whether or not the source showed it.
        self._building.append(bits)
        count = 0
        try:
            async for chunk in _chunks(keys, _CHUNK):
                for key in chunk:
                    for position in bloom_positions(key, self.params):
                        bits[position >> 3] |= 0x80 >> (position & 7)
                count += len(chunk)
                await asyncio.sleep(0)  # a million ids must not stall the event loop
        finally:
            # By identity: two rebuilds' arrays can be equal, and == would pick either.
            self._building = [other for other in self._building if other is not bits]
        self._bits = bits
        return count

    def count_bits_set(self) -> int:
        """How many bits are set."""
        return int.from_bytes(self._bits, "big").bit_count()

    def estimated_false_positive_rate(self) -> float:
        """The current false-positive rate, from the share of bits set: (set / m)^k."""
        return float((self.count_bits_set() / self.params.bits) ** self.params.hashes)

    def to_bytes(self) -> bytes:
        """The bits, as the Redis adapter stores them."""
        return bytes(self._bits)


@functools.cache
def _script(name: str) -> str:
    path = resources.files("bazaar.kernel.cache") / "resources" / f"bloom_{name}.lua"
    return path.read_text(encoding="utf-8")


class RedisBloomFilter:
    """A Bloom filter in a Redis string, shared by every process (implements ``BloomFilter``).

    Adding and checking are one ``EVALSHA`` each (``resources/bloom_*.lua``); the offsets are
    computed here and passed as arguments. A filter that does not exist (never rebuilt,
    evicted, Redis restarted empty) answers ``BloomFilterNotReadyError`` rather than "absent",
    and ``add`` does not create it: a filter of only recent ids would deny every older one.

    ``rebuild`` writes a second key under an owner token with a TTL, then ``RENAME``s it over
    the live one in one script. Adds while it runs go to both keys. Keys are
    ``<prefix>{<name>}:<bits>:<hashes>`` (and ``:build``, ``:owner``): the hash tag keeps them
    in one cluster slot, and new parameters mean a new key, never offsets read against a
    filter of another size.
    """

    __slots__ = (
        "_errors",
        "_execute",
        "_keys",
        "_no_script",
        "_shas",
        "name",
        "params",
        "rebuild_ttl_s",
    )

    def __init__(
        self,
        redis: Redis,
        name: str,
        params: BloomParameters,
        *,
        key_prefix: str = DEFAULT_BLOOM_KEY_PREFIX,
        rebuild_ttl_s: float = 60.0,
    ) -> None:
        """Create a filter handle; nothing is written until ``rebuild`` or ``add``.

        Args:
            redis: A redis-py asyncio client (decoding responses or not).
            name: The filter's name, e.g. ``"products"``.
            params: The filter's size; every process sharing the filter must agree.
            key_prefix: Prepended to every key.
            rebuild_ttl_s: How long a rebuild's leftovers live if it stops (crashes) without
                finishing; each chunk it writes renews it.

        Raises:
            CacheConfigurationError: If ``rebuild_ttl_s`` is not positive.
        """
        # Imported here: redis-py is slow to import and only needed when Redis is configured.
        from redis.exceptions import NoScriptError, RedisError

        if not rebuild_ttl_s > 0:
            raise CacheConfigurationError("rebuild_ttl_s", f"must be positive, got {rebuild_ttl_s}")
        self.name = name
        self.params = params
        self.rebuild_ttl_s = rebuild_ttl_s
        # execute_command is untyped in redis-py; bound once, it is called typed.
        self._execute: Callable[..., Awaitable[Any]] = redis.execute_command
        self._errors = RedisError
        self._no_script = NoScriptError
        live = f"{key_prefix}{{{name}}}:{params.bits}:{params.hashes}"
        self._keys = (live, f"{live}:build", f"{live}:owner")
        self._shas = {
            script: hashlib.sha1(_script(script).encode(), usedforsecurity=False).hexdigest()
            for script in ("add", "check", "rebuild")
        }

    @property
    def key(self) -> str:
        """The Redis key of the live filter (for operators and tests)."""
        return self._keys[0]

    async def add(self, key: BloomKey) -> None:
        """See ``BloomFilter.add``; a filter not yet built is left alone."""
        await self._call("add", "add", self._keys[:2], bloom_positions(key, self.params))

    async def add_many(self, keys: Iterable[BloomKey]) -> None:
        """See ``BloomFilter.add_many``; one round trip per thousand keys."""
        async for chunk in _chunks(keys, _CHUNK):
            await self._call("add", "add", self._keys[:2], self._positions(chunk))

    async def might_contain(self, key: BloomKey) -> bool:
        """See ``BloomFilter.might_contain``.

        Raises:
            BloomFilterNotReadyError: If the filter does not exist in Redis.
            BloomFilterUnavailableError: If Redis fails.
        """
        args = bloom_positions(key, self.params)
        answer = await self._call("check", "check", self._keys[:1], args)
        if answer == -1:
            raise BloomFilterNotReadyError(self.name)
        return bool(answer == 1)

    async def rebuild(self, keys: Iterable[BloomKey] | AsyncIterable[BloomKey]) -> int:
        """See ``BloomFilter.rebuild``.

        Raises:
            BloomFilterRebuildConflictError: If another rebuild holds the filter being built.
            BloomFilterUnavailableError: If Redis fails; the live filter is then untouched.
        """
        token = secrets.token_hex(8)
        await self._rebuild_step("begin", token, [self.params.bits])
        count = 0
        try:
            async for chunk in _chunks(keys, _CHUNK):
                await self._rebuild_step("write", token, self._positions(chunk))
                count += len(chunk)
            await self._rebuild_step("commit", token, [])
        except BaseException:
            # Best effort (cancelled, source or Redis failed): the TTL clears leftovers anyway.
            with contextlib.suppress(BloomFilterError):
                await self._rebuild_step("abort", token, [])
            raise
        return count

    async def ready(self) -> bool:
        """Whether the live filter exists (has been built and not lost).

        Raises:
            BloomFilterUnavailableError: If Redis fails.
        """
        try:
            return bool(await self._execute("EXISTS", self._keys[0]))
        except self._errors as exc:
            raise BloomFilterUnavailableError(self.name, "check readiness") from exc

    async def count_bits_set(self) -> int:
        """How many bits of the live filter are set (0 if it does not exist).

        Raises:
            BloomFilterUnavailableError: If Redis fails.
        """
        try:
            return int(await self._execute("BITCOUNT", self._keys[0]))
        except self._errors as exc:
            raise BloomFilterUnavailableError(self.name, "count bits") from exc

    def _positions(self, keys: list[BloomKey]) -> list[int]:
        return [position for key in keys for position in bloom_positions(key, self.params)]

    async def _rebuild_step(self, step: str, token: str, args: list[int]) -> None:
        ttl_ms = max(1, round(self.rebuild_ttl_s * 1000))
        reply = await self._call(
            "rebuild", f"rebuild ({step})", self._keys, [step, token, ttl_ms, *args]
        )
        if reply != 1:
            raise BloomFilterRebuildConflictError(self.name)

    async def _call(
        self, script: str, operation: str, keys: tuple[str, ...], args: list[Any]
    ) -> Any:
        try:
            try:
                return await self._execute("EVALSHA", self._shas[script], len(keys), *keys, *args)
            except self._no_script:
                # Redis lost its scripts (restart, SCRIPT FLUSH): load and run once more.
                await self._execute("SCRIPT", "LOAD", _script(script))
                return await self._execute("EVALSHA", self._shas[script], len(keys), *keys, *args)
        except self._errors as exc:
            raise BloomFilterUnavailableError(self.name, operation) from exc
