"""The in-process adapters' own behaviour (expiry on the clock, bounds) and the codecs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bazaar.kernel.cache import (
    BytesCodec,
    CacheConfigurationError,
    JsonCodec,
    MemoryCacheStore,
    MemoryInvalidationBus,
    MemoryInvalidationHub,
    MemoryLoadLock,
    TextCodec,
)
from bazaar.kernel.clock import ManualClock


class TestMemoryCacheStore:
    async def test_a_value_expires_on_the_clock(self) -> None:
        clock = ManualClock()
        store = MemoryCacheStore(clock)
        await store.set("k", b"v", 2.0)
        clock.advance(1.999)
        assert await store.get("k") == b"v"
        assert store.remaining_ttl_s("k") == pytest.approx(0.001)
        clock.advance(0.001)
        assert await store.get("k") is None
        assert await store.delete("k") == 0

    async def test_past_its_bound_the_oldest_write_is_dropped(self) -> None:
        store = MemoryCacheStore(ManualClock(), max_entries=2)
        for key in "abc":
            await store.set(key, key.encode(), 60.0)
        assert [await store.get(key) for key in "abc"] == [None, b"b", b"c"]
        await store.incr("counter")  # counters are not held against the bound
        assert await store.get("b") == b"b"
        assert len(store) == 3

    async def test_only_bytes_are_stored(self) -> None:
        store = MemoryCacheStore(ManualClock())
        with pytest.raises(TypeError, match="bytes"):
            await store.set("k", "text", 60.0)  # type: ignore[arg-type]

    def test_a_bound_below_one_is_refused(self) -> None:
        with pytest.raises(CacheConfigurationError):
            MemoryCacheStore(ManualClock(), max_entries=0)

    async def test_a_value_replaces_a_counter(self) -> None:
        store = MemoryCacheStore(ManualClock())
        await store.incr("k")
        await store.set("k", b"v", 60.0)
        assert await store.get("k") == b"v"


class TestMemoryLoadLock:
    async def test_a_lock_lapses_after_its_ttl(self) -> None:
        clock = ManualClock()
        lock = MemoryLoadLock(clock)
        token = await lock.acquire("k", 5.0)
        assert lock.holder("k") == token
        clock.advance(5.0)
        assert lock.holder("k") is None
        assert lock.remaining_ttl_s("k") is None
        assert await lock.acquire("k", 5.0) not in (None, token)


class TestMemoryInvalidationBus:
    async def test_a_bus_of_its_own_hub_talks_to_nobody(self) -> None:
        bus = MemoryInvalidationBus()
        got: list[tuple[str, list[str]]] = []
        runner = asyncio.create_task(bus.run(lambda cache, keys: got.append((cache, keys))))
        await bus.wait_subscribed()
        await bus.publish("products", ["p:1"])
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        assert got == []
        assert bus.hub.published == [(bus.origin, "products", ["p:1"])]

    async def test_a_stopped_bus_receives_nothing_more(self) -> None:
        hub = MemoryInvalidationHub()
        sender, receiver = hub.bus(), hub.bus()
        got: list[list[str]] = []
        runner = asyncio.create_task(receiver.run(lambda cache, keys: got.append(keys)))
        await receiver.wait_subscribed()
        await sender.publish("c", ["before"])
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await sender.publish("c", ["after"])
        assert got == [["before"]]


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class TestCodecs:
    def test_bytes_and_text_round_trip(self) -> None:
        assert BytesCodec().decode(BytesCodec().encode(b"\x00\xff")) == b"\x00\xff"
        assert TextCodec().decode(TextCodec().encode("ünïcode")) == "ünïcode"

    def test_json_round_trips_plain_values(self) -> None:
        codec: JsonCodec[dict[str, object]] = JsonCodec()
        value = {"id": 7, "tags": ["a"], "price": {"amount": "9.99"}}
        assert codec.decode(codec.encode(value)) == value

    def test_json_hooks_convert_typed_values(self) -> None:
        codec = JsonCodec(to_json=lambda p: {"x": p.x, "y": p.y}, from_json=lambda d: Point(**d))
        assert codec.decode(codec.encode(Point(1, 2))) == Point(1, 2)
