"""With Redis configured, every process shares one view of each breaker (capabilities §4.3)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bazaar.bootstrap import Container, build_container
from bazaar.kernel.breaker import BreakerState
from bazaar.kernel.resilience import DependencyUnavailableError, FaultSpec
from bazaar.settings import Settings


@pytest.fixture
async def two_processes(tmp_path: Path, redis_url: str) -> AsyncIterator[list[Container]]:
    # Two containers stand in for two API processes; a fresh Redis db key space per test is
    # not needed because each test uses breakers under a unique name.
    async with AsyncExitStack() as stack:
        containers = []
        for name in ("a", "b"):
            container = await build_container(
                Settings(data_dir=tmp_path / name, redis_url=redis_url, demo=True)
            )
            stack.push_async_callback(container.aclose)
            containers.append(container)
        yield containers


class TestSharedBreaker:
    async def test_a_breaker_opened_by_one_process_rejects_in_the_other(
        self, two_processes: list[Container]
    ) -> None:
        first, second = two_processes
        name = f"dep-{uuid.uuid4().hex[:8]}"
        breaker_a = first.breakers.get_or_create(name)
        breaker_b = second.breakers.get_or_create(name)

        async def fails() -> None:
            raise ConnectionError("down")

        for _ in range(5):  # 5 consecutive failures open it (capabilities §4.3)
            with pytest.raises(ConnectionError):
                await breaker_a.call(fails)
        assert (await breaker_b.snapshot()).state is BreakerState.OPEN

        calls = 0

        async def counted() -> None:
            nonlocal calls
            calls += 1

        with pytest.raises(Exception, match="open"):
            await breaker_b.call(counted)
        assert calls == 0

    async def test_the_psp_guard_uses_the_shared_store(
        self, two_processes: list[Container]
    ) -> None:
        first, _second = two_processes
        guard = first.dependencies.get("psp")
        assert guard is not None
        guard.faults.set(FaultSpec(outage=True))

        async def never_called(timeout_s: float) -> None:
            raise AssertionError("the outage is injected before the call")

        with pytest.raises(DependencyUnavailableError):
            await guard.call(never_called, retry_safe=False)
        assert type(guard.breaker.store).__name__ == "RedisBreakerStore"
