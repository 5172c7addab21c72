"""Benchmarks P5 and P6: rate-limit decisions per second against the `limits` library, same run.

P5, in process: ``MemoryRateLimitStore`` (sliding log, sliding window counter, token bucket)
against limits' ``MovingWindowRateLimiter`` on its ``MemoryStorage``, like for like: our async
``decide`` against ``limits.aio``, our ``decide_now`` against sync ``limits``. Two workloads:
"admitting" (1,000 keys at 1,000/s each: nearly every request is admitted and written) and
"limiting" (10 keys at 10/s each: nearly every request is refused). Target: >= 2x.

P6, Redis: ``RedisRateLimitStore.decide`` (every algorithm, on the server's time as in
production) against raw ``redis.asyncio`` GET round trips of existing keys, 32 concurrent
tasks on one client, on a redis-server this script starts. Alongside: limits' async Redis
moving window (on redis-py), the floor of any script (TIME, GET, SET PX, nothing else), and
GET sent the way the store sends its decisions (packed once, on a pooled connection, past
redis-py's command layer): the ceiling of that path. Target: >= 90% of GET.

Needs the ``bench`` extra (limits) and redis-server (PATH or BAZAAR_REDIS_SERVER). Takes about
a minute; writes ``bench/results/ratelimit_vs_limits.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
from redis.asyncio import Redis

from bazaar.kernel.ratelimit import Algorithm, MemoryRateLimitStore, RateLimit, RedisRateLimitStore
from bazaar.testing.servers import RedisServer, find_redis_server

RESULTS = Path(__file__).parent / "results" / "ratelimit_vs_limits.json"
P5_TARGET, P6_TARGET = 2.0, 0.9
P5_RUNS, P5_SLICES, P5_SLICE_CALLS = 9, 4, 5_000  # medians of 9 runs of 4 interleaved slices
P5_ALGORITHMS = (Algorithm.SLIDING_LOG, Algorithm.SLIDING_WINDOW, Algorithm.TOKEN_BUCKET)
WORKLOADS = {"admitting": (1_000, 1_000), "limiting": (10, 10)}  # keys, limit per second
P6_ROUNDS, P6_CONCURRENCY, P6_CALLS_PER_TASK = 11, 32, 120
P6_KEYS, P6_LIMIT = 1_000, 1_000  # 1,000/s per key: nearly every decision is written
GET = "redis.asyncio GET"
PACKED_GET = "GET packed, on a pooled connection"

# P5 counts CPU time of this process: the machine is shared, and CPU time leaves out the
# moments another process has the core. P6 needs wall time: half its work is in redis-server.
_cpu = time.process_time_ns

Slice = Callable[[int, int], tuple[int, int]]  # (first key, calls) -> (ns, admitted)


def p5_subjects(
    loop: asyncio.AbstractEventLoop, keys: list[str], per_second: int
) -> dict[str, tuple[Slice, Callable[[], None]]]:
    """Name -> (slice, drain). One loop shape per subject kind, the same for every subject."""
    n = len(keys)

    def ours_async(decide: Any, limit: RateLimit) -> Slice:
        async def run(start: int, calls: int) -> tuple[int, int]:
            admitted, began = 0, _cpu()
            for i in range(start, start + calls):
                if (await decide(limit, keys[i % n])).allowed:
                    admitted += 1
            return _cpu() - began, admitted

        return lambda start, calls: loop.run_until_complete(run(start, calls))

    def ours_sync(decide: Any, limit: RateLimit) -> Slice:
        def run(start: int, calls: int) -> tuple[int, int]:
            admitted, began = 0, _cpu()
            for i in range(start, start + calls):
                if decide(limit, keys[i % n]).allowed:
                    admitted += 1
            return _cpu() - began, admitted

        return run

    def theirs_async(hit: Any, item: Any) -> Slice:
        async def run(start: int, calls: int) -> tuple[int, int]:
            admitted, began = 0, _cpu()
            for i in range(start, start + calls):
                if await hit(item, keys[i % n]):
                    admitted += 1
            return _cpu() - began, admitted

        return lambda start, calls: loop.run_until_complete(run(start, calls))

    def theirs_sync(hit: Any, item: Any) -> Slice:
        def run(start: int, calls: int) -> tuple[int, int]:
            admitted, began = 0, _cpu()
            for i in range(start, start + calls):
                if hit(item, keys[i % n]):
                    admitted += 1
            return _cpu() - began, admitted

        return run

    def nothing() -> None:
        return None

    subjects: dict[str, tuple[Slice, Callable[[], None]]] = {}
    for algorithm in P5_ALGORITHMS:
        limit = RateLimit(algorithm, per_second, 1.0)
        subjects[f"bazaar {algorithm.value} (async)"] = (
            ours_async(MemoryRateLimitStore().decide, limit),
            nothing,
        )
        subjects[f"bazaar {algorithm.value} (sync)"] = (
            ours_sync(MemoryRateLimitStore().decide_now, limit),
            nothing,
        )
    item = limits.RateLimitItemPerSecond(per_second)
    aio_storage = limits.aio.storage.MemoryStorage()
    sync_storage = limits.storage.MemoryStorage()

    # limits expires entries in the background (an asyncio task, a timer thread): finish
    # each pass between slices, untimed, so it never lands in another subject's slice. This
    # leaves its expiry cost out of its figures, which favours limits.
    def drain_aio() -> None:
        if aio_storage.timer is not None:
            loop.run_until_complete(aio_storage.timer)

    subjects["limits moving_window (async)"] = (
        theirs_async(limits.aio.strategies.MovingWindowRateLimiter(aio_storage).hit, item),
        drain_aio,
    )
    subjects["limits moving_window (sync)"] = (
        theirs_sync(limits.strategies.MovingWindowRateLimiter(sync_storage).hit, item),
        lambda: sync_storage.timer.join(),
    )
    return subjects


def p5_workload(
    loop: asyncio.AbstractEventLoop, keys_count: int, per_second: int
) -> dict[str, dict[str, Any]]:
    keys = [f"client:{i}" for i in range(keys_count)]
    subjects = p5_subjects(loop, keys, per_second)
    names = list(subjects)
    for run, drain in subjects.values():  # warm up: caches, allocator, every key's state
        run(0, max(P5_SLICE_CALLS, keys_count))
        drain()
    cursor = dict.fromkeys(names, 0)
    admitted = dict.fromkeys(names, 0)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for run_index in range(P5_RUNS):
        spent = dict.fromkeys(names, 0)
        for turn in range(P5_SLICES):
            # Rotate the order so drift and bursts of load fall on every subject alike.
            shift = (run_index * P5_SLICES + turn) % len(names)
            for name in names[shift:] + names[:shift]:
                run, drain = subjects[name]
                ns, took = run(cursor[name], P5_SLICE_CALLS)
                drain()
                cursor[name] += P5_SLICE_CALLS
                spent[name] += ns
                admitted[name] += took
        for name in names:
            samples[name].append(P5_SLICES * P5_SLICE_CALLS / (spent[name] / 1e9))
    results = {}
    for name, runs in samples.items():
        kind = "async" if name.endswith("(async)") else "sync"
        reference = samples[f"limits moving_window ({kind})"]
        results[name] = {
            "median_decisions_per_s": statistics.median(runs),
            "min_decisions_per_s": min(runs),
            "max_decisions_per_s": max(runs),
            "median_ratio_to_limits": statistics.median(
                [ours / theirs for ours, theirs in zip(runs, reference, strict=True)]
            ),
            "admitted_fraction": admitted[name] / (P5_RUNS * P5_SLICES * P5_SLICE_CALLS),
            "runs_decisions_per_s": runs,
        }
    return results


async def p6(url: str) -> dict[str, dict[str, Any]]:
    client = Redis.from_url(url, max_connections=2 * P6_CONCURRENCY)
    keys = [f"client:{i}" for i in range(P6_KEYS)]
    await client.mset(dict.fromkeys(keys, b"1"))
    execute, store = client.execute_command, RedisRateLimitStore(client, key_prefix="bench:rl:")
    subjects: dict[str, Callable[[str], Awaitable[object]]] = {GET: client.get}
    for algorithm in Algorithm:
        limit = RateLimit(algorithm, P6_LIMIT, 1.0)
        subjects[f"bazaar {algorithm.value}"] = lambda key, limit=limit: store.decide(limit, key)
    theirs = limits.aio.strategies.MovingWindowRateLimiter(
        limits.aio.storage.RedisStorage(
            url.replace("redis", "async+redis"), implementation="redispy"
        )
    )
    item = limits.RateLimitItemPerSecond(P6_LIMIT)
    subjects["limits moving_window (aio, redis-py)"] = lambda key: theirs.hit(item, key)
    # How close to GET any read-modify-write script with expiry can come on this machine.
    floor = await client.script_load(
        "local t = redis.call('TIME') local v = redis.call('GET', KEYS[1]) "
        "redis.call('SET', KEYS[1], 'x', 'PX', 60000) return 'x'"
    )
    subjects["floor: script of TIME+GET+SET PX"] = lambda key: execute(
        "EVALSHA", floor, 1, "bench:floor:" + key
    )
    # The store's own path with nothing to decide: how close its decisions come to the
    # cheapest round trip on that path.
    packed = {key: b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key.encode()) for key in keys}
    pool = client.connection_pool

    async def packed_get(key: str) -> object:
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(packed[key])
            return await connection.read_response()
        finally:
            await pool.release(connection)

    subjects[PACKED_GET] = packed_get

    async def run(decide: Callable[[str], Awaitable[object]]) -> tuple[float, float]:
        async def task(offset: int) -> None:
            for i in range(P6_CALLS_PER_TASK):
                await decide(keys[(offset + i) % P6_KEYS])

        await client.config_resetstat()
        began = time.perf_counter()
        await asyncio.gather(*(task(t * 31) for t in range(P6_CONCURRENCY)))
        per_s = P6_CONCURRENCY * P6_CALLS_PER_TASK / (time.perf_counter() - began)
        # The server's time per call. Commands a script runs are counted apart, so
        # EVALSHA's figure is the whole script's.
        stats = await client.info("commandstats")
        return per_s, float((stats.get("cmdstat_evalsha") or stats["cmdstat_get"])["usec_per_call"])

    names = list(subjects)
    for name in names:  # warm up: connections, loaded scripts, every key's first state
        await run(subjects[name])
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    others = names[1:]
    for round_index in range(P6_ROUNDS):
        shift = round_index % len(others)
        for name in others[shift:] + others[:shift]:
            # Each subject runs next to its own GET run, before or after it by turns, and is
            # divided by it: slow spells of the shared machine fall on both alike.
            pair = [GET, name] if round_index % 2 else [name, GET]
            got = {subject: await run(subjects[subject]) for subject in pair}
            samples[name].append((got[name][0], got[name][1], got[name][0] / got[GET][0]))
            samples[GET].append((got[GET][0], got[GET][1], 1.0))
    await client.aclose()
    return {
        name: {
            "median_decisions_per_s": statistics.median(s[0] for s in rows),
            "min_decisions_per_s": min(s[0] for s in rows),
            "max_decisions_per_s": max(s[0] for s in rows),
            "median_ratio_to_get": statistics.median(s[2] for s in rows),
            "median_server_us_per_call": statistics.median(s[1] for s in rows),
            "runs_decisions_per_s": [s[0] for s in rows],
        }
        for name, rows in samples.items()
    }


def main() -> None:
    loop = asyncio.new_event_loop()
    p5 = {name: p5_workload(loop, *shape) for name, shape in WORKLOADS.items()}
    loop.close()
    print("P5: in-process decisions/s (CPU time); x limits = ours / limits' moving window")
    print(f"{'workload':<10} {'subject':<34} {'decisions/s':>12} {'x limits':>9} {'admitted':>9}")
    for workload, rows in p5.items():
        for name, row in rows.items():
            ratio, share = row["median_ratio_to_limits"], row["admitted_fraction"]
            print(
                f"{workload:<10} {name:<34} {row['median_decisions_per_s']:>12,.0f} "
                f"{ratio:>9.2f} {share:>9.1%}"
            )

    executable = find_redis_server()
    p6_results: dict[str, dict[str, Any]] = {}
    if executable is None:
        print("\nP6 skipped: redis-server not found (set BAZAAR_REDIS_SERVER)")
    else:
        with RedisServer(executable) as server:
            p6_results = asyncio.run(p6(server.url))
        print(f"\nP6: Redis decisions/s, {P6_CONCURRENCY} concurrent tasks (wall time)")
        print(f"{'subject':<38} {'decisions/s':>12} {'of GET':>8} {'server us/call':>15}")
        for name, row in p6_results.items():
            ratio, server_us = row["median_ratio_to_get"], row["median_server_us_per_call"]
            print(
                f"{name:<38} {row['median_decisions_per_s']:>12,.0f} "
                f"{ratio:>8.1%} {server_us:>15.1f}"
            )

    p5_ratios = {
        f"{workload}/{name}": row["median_ratio_to_limits"]
        for workload, rows in p5.items()
        for name, row in rows.items()
        if name.startswith("bazaar")
    }
    p6_ratios = {n: r["median_ratio_to_get"] for n, r in p6_results.items() if n != GET}
    ours_p6 = [ratio for name, ratio in p6_ratios.items() if name.startswith("bazaar")]
    for label, values, target, unit in (
        ("P5 (x limits)", list(p5_ratios.values()), P5_TARGET, "x"),
        ("P6 (of GET)", ours_p6, P6_TARGET, "x"),
    ):
        if values:
            verdict = "meets" if min(values) >= target else "MISSES"
            print(f"{label}: lowest {min(values):.2f}{unit}, median {statistics.median(values):.2f}"
                  f"{unit}; target {target}{unit}: {verdict}")  # fmt: skip
    # Not a target: each decision against GET on the store's own path (ratios of ratios,
    # both measured against their adjacent redis.asyncio GET runs).
    p6_over_packed = {
        name: ratio / p6_ratios[PACKED_GET]
        for name, ratio in p6_ratios.items()
        if name.startswith("bazaar") and PACKED_GET in p6_ratios
    }
    if p6_over_packed:
        print(f"bazaar decisions / {PACKED_GET}: lowest {min(p6_over_packed.values()):.2f}x")

    report = {
        "benchmark": "ratelimit_vs_limits",
        "target": "P5: in-process decisions/s >= 2x limits' moving window on memory storage; "
        "P6: Redis decisions/s >= 90% of raw redis.asyncio GET round trips, same concurrency",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
        },
        "versions": {
            "bazaar": metadata.version("bazaar"),
            "limits": metadata.version("limits"),
            "redis-py": metadata.version("redis"),
            "redis-server": subprocess.run(
                [str(executable), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if executable
            else None,
        },
        "method": {
            "p5": f"{P5_RUNS} runs of {P5_SLICES} slices of {P5_SLICE_CALLS} decisions per "
            "subject, subjects interleaved and rotated every slice; CPU time "
            "(process_time_ns); median of runs; ratio = ours / limits run by run, median. "
            "bazaar: MemoryRateLimitStore() defaults; limits: MovingWindowRateLimiter on "
            "MemoryStorage, its background expiry drained between slices, untimed (favours "
            "limits). Workloads (keys, limit per second): " + json.dumps(WORKLOADS),
            "p6": f"{P6_ROUNDS} rounds; in each, every subject runs {P6_CONCURRENCY} tasks x "
            f"{P6_CALLS_PER_TASK} calls next to a GET run of the same shape (before or after "
            "by turns); wall time; ratio = subject / adjacent GET, median of rounds. One "
            "redis.asyncio client (pool of 64) for GET, bazaar (server TIME), the floor "
            "script and the packed GET; limits has its own redis-py client. bazaar sends its "
            "decisions packed on the client's pooled connections, past redis-py's command "
            f"layer, which GET goes through. {P6_KEYS} keys, {P6_LIMIT}/s each.",
        },
        "results": {"p5": p5, "p6": p6_results},
        "ratios": {
            "p5_ours_over_limits": p5_ratios,
            "p6_over_get": p6_ratios,
            "p6_ours_over_packed_get": p6_over_packed,
        },
        "targets": {"p5": P5_TARGET, "p6": P6_TARGET},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
