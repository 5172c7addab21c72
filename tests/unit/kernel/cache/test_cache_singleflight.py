"""SingleFlight: one call per key, its outcome shared; cancellation-safe; the key freed after."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bazaar.kernel.cache import SingleFlight


class Boom(Exception):
    pass


class TestSingleFlight:
    async def test_a_thousand_concurrent_callers_run_the_call_once(self) -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        calls = 0
        gate = asyncio.Event()

        async def load() -> str:
            nonlocal calls
            calls += 1
            await gate.wait()
            return "value"

        callers = [asyncio.create_task(flight.do("k", load)) for _ in range(1_000)]
        await asyncio.sleep(0)
        assert flight.in_flight() == 1
        assert flight.running("k")
        gate.set()
        results = await asyncio.gather(*callers)
        assert calls == 1
        assert {value for value, _ in results} == {"value"}
        assert [shared for _, shared in results].count(False) == 1  # the one that started it
        assert flight.in_flight() == 0

    async def test_the_exception_reaches_every_caller_and_frees_the_key(self) -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        calls = 0

        async def fail() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            raise Boom("down")

        results = await asyncio.gather(
            *(flight.do("k", fail) for _ in range(10)), return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(result, Boom) for result in results)
        assert flight.in_flight() == 0
        with pytest.raises(Boom):
            await flight.do("k", fail)
        assert calls == 2

    async def test_a_cancelled_caller_does_not_cancel_the_call_for_the_others(self) -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        gate, finished = asyncio.Event(), asyncio.Event()

        async def load() -> str:
            await gate.wait()
            finished.set()
            return "value"

        starter = asyncio.create_task(flight.do("k", load))
        waiter = asyncio.create_task(flight.do("k", load))
        await asyncio.sleep(0)
        starter.cancel()
        await asyncio.sleep(0)
        assert starter.cancelled()
        gate.set()
        assert await waiter == ("value", True)
        assert finished.is_set()

    async def test_the_call_finishes_even_when_every_caller_has_gone(self) -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        gate, finished = asyncio.Event(), asyncio.Event()

        async def load() -> str:
            await gate.wait()
            finished.set()
            return "value"

        callers = [asyncio.create_task(flight.do("k", load)) for _ in range(3)]
        await asyncio.sleep(0)
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        assert flight.running("k")
        gate.set()
        await asyncio.wait_for(finished.wait(), timeout=1)
        await asyncio.sleep(0)
        assert flight.in_flight() == 0

    async def test_a_failure_with_no_caller_left_is_not_logged_as_unretrieved(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        flight: SingleFlight[str, str] = SingleFlight()
        gate = asyncio.Event()

        async def fail() -> str:
            await gate.wait()
            raise Boom("down")

        caller = asyncio.create_task(flight.do("k", fail))
        await asyncio.sleep(0)
        caller.cancel()
        gate.set()
        for _ in range(3):
            await asyncio.sleep(0)
        assert flight.in_flight() == 0
        assert "never retrieved" not in caplog.text

    async def test_calls_in_sequence_run_again_and_keys_are_independent(self) -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        calls: list[str] = []

        def loader(key: str) -> Callable[[], Awaitable[int]]:
            async def load() -> int:
                calls.append(key)
                await asyncio.sleep(0)
                return len(calls)

            return load

        assert await flight.do("a", loader("a")) == (1, False)
        assert await flight.do("a", loader("a")) == (2, False)
        both = await asyncio.gather(flight.do("b", loader("b")), flight.do("c", loader("c")))
        assert sorted(calls) == ["a", "a", "b", "c"]
        assert {shared for _, shared in both} == {False}
