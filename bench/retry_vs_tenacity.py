"""Benchmark: the overhead of ``retry_call`` against tenacity's ``AsyncRetrying``, same run.

Two scenarios, each a call that does no I/O so only the retry machinery is timed:

* ``first_try``: the call succeeds at once (the common case: what retries cost when unused);
* ``two_retries``: the call fails twice with a retry-safe error, then succeeds.

Both libraries get the same policy (3 attempts, full jitter from 0.1 s doubling to 5 s) and
a sleep that only yields to the event loop once, so backoff delays cost nothing. bazaar is
measured with and without a retry budget; the budget's ratio is set high enough never to
refuse, since the point is its bookkeeping cost, not its policy. Needs ``pip install
tenacity`` (it is not a bazaar dependency).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import tenacity

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.retry import RetryBudget, RetryPolicy, retry_call

RUNS = 5
RUN_SECONDS = 0.3  # per run, scenario and subject: 2 x 3 x 5 x 0.3 s keeps the total near 10 s
CHUNK = 500  # calls between clock checks
RESULTS = Path(__file__).parent / "results" / "retry_vs_tenacity.json"

Subject = Callable[[Callable[[], Awaitable[str]]], Awaitable[str]]


class TransientError(Exception):
    """The retry-safe failure both libraries retry."""


def failing_then_ok(failures: int) -> Callable[[], Callable[[], Awaitable[str]]]:
    """A factory of fresh calls that fail ``failures`` times and then return."""

    def make() -> Callable[[], Awaitable[str]]:
        left = failures

        async def call() -> str:
            nonlocal left
            if left:
                left -= 1
                raise TransientError
            return "ok"

        return call

    return make


def subjects() -> dict[str, Subject]:
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=5.0, multiplier=2.0)
    clock = ManualClock()  # its sleep() advances the clock and yields once
    rng = random.Random(0)
    budget = RetryBudget(clock, ratio=100.0)

    def is_retryable(exc: BaseException) -> bool:
        return isinstance(exc, TransientError)

    async def bazaar_budget(fn: Callable[[], Awaitable[str]]) -> str:
        return await retry_call(
            fn, policy=policy, budget=budget, is_retryable=is_retryable, clock=clock, rng=rng
        )

    async def bazaar_plain(fn: Callable[[], Awaitable[str]]) -> str:
        return await retry_call(
            fn, policy=policy, budget=None, is_retryable=is_retryable, clock=clock, rng=rng
        )

    async def yield_once(_seconds: float) -> None:
        await asyncio.sleep(0)

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=5.0),
        retry=tenacity.retry_if_exception_type(TransientError),
        sleep=yield_once,
        reraise=True,
    )

    async def tenacity_async(fn: Callable[[], Awaitable[str]]) -> str:
        return await retrying(fn)

    return {
        "bazaar.retry_call+budget": bazaar_budget,
        "bazaar.retry_call": bazaar_plain,
        "tenacity.AsyncRetrying": tenacity_async,
    }


async def measure(subject: Subject, make: Callable[[], Callable[[], Awaitable[str]]]) -> float:
    """Return calls per second of ``subject`` over about ``RUN_SECONDS``."""
    calls = 0
    started = time.perf_counter()
    deadline = started + RUN_SECONDS
    while True:
        for _ in range(CHUNK):
            await subject(make())
        calls += CHUNK
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - started)


async def run() -> dict[str, dict[str, dict[str, float | list[float]]]]:
    scenarios = {"first_try": failing_then_ok(0), "two_retries": failing_then_ok(2)}
    subs = subjects()
    results: dict[str, dict[str, dict[str, float | list[float]]]] = {}
    for scenario, make in scenarios.items():
        for subject in subs.values():  # warm up
            for _ in range(CHUNK):
                await subject(make())
        samples: dict[str, list[float]] = {name: [] for name in subs}
        # Alternate subjects inside each round so drift hits all alike.
        for _ in range(RUNS):
            for name, subject in subs.items():
                samples[name].append(await measure(subject, make))
        reference = statistics.median(samples["tenacity.AsyncRetrying"])
        results[scenario] = {
            name: {
                "median_calls_per_s": statistics.median(runs),
                "median_us_per_call": 1e6 / statistics.median(runs),
                "ratio_to_tenacity": statistics.median(runs) / reference,
                "runs_calls_per_s": runs,
            }
            for name, runs in samples.items()
        }
    return results


def main() -> None:
    results = asyncio.run(run())
    header = f"{'scenario':<12} {'subject':<26} {'calls/s':>10} {'us/call':>8} {'x tenacity':>10}"
    print(header)
    for scenario, rows in results.items():
        for name, row in rows.items():
            print(
                f"{scenario:<12} {name:<26} {row['median_calls_per_s']:>10,.0f} "
                f"{row['median_us_per_call']:>8.1f} {row['ratio_to_tenacity']:>10.2f}"
            )
    report = {
        "benchmark": "retry_vs_tenacity",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
        },
        "reference": {"library": "tenacity", "version": _tenacity_version()},
        "method": {
            "runs": RUNS,
            "seconds_per_run": RUN_SECONDS,
            "calls_per_chunk": CHUNK,
            "order": "subjects alternate within each run",
            "statistic": "median of runs; ratio > 1 means faster than tenacity",
        },
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)


def _tenacity_version() -> str:
    from importlib.metadata import version

    return version("tenacity")


if __name__ == "__main__":
    main()
