"""Benchmark P8: L1 get/put per second against cachetools.LRUCache, same run; and the stampede.

Throughput: ``LruCache`` (TTL on, SystemClock) and ``cachetools.LRUCache`` run the same
pre-drawn operation sequence: 90% ``get`` / 10% ``put``, over a key space larger than the
size bound (10,000 entries), in two key distributions, "uniform" (20,000 keys) and "zipf"
(s = 1 over 100,000 keys, the shape of real catalogue traffic). ``cachetools.TTLCache``,
which also keeps a TTL per entry, runs alongside for information. Target: ours / LRUCache
>= 1.0 in every workload.

Stampede: 1,000 concurrent ``LayeredCache.get`` of one cold key (L1, memory L2 and load
lock, a loader that takes 50 ms) -> exactly 1 load; and the same across two ``LayeredCache``
instances sharing the store and the lock (two "processes") -> exactly 1 load in total.

Takes about half a minute; writes ``bench/results/cache_vs_cachetools.json``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import cachetools

from bazaar.kernel.cache import (
    BytesCodec,
    CachePolicy,
    LayeredCache,
    LruCache,
    MemoryCacheStore,
    MemoryLoadLock,
)
from bazaar.kernel.clock import SystemClock

RESULTS = Path(__file__).parent / "results" / "cache_vs_cachetools.json"
TARGET_RATIO = 1.0
BOUND = 10_000
GET_SHARE = 0.9
OPS = 200_000  # pre-drawn operations per workload, replayed in slices
RUNS, SLICES, SLICE_OPS = 21, 4, 25_000  # medians of 21 runs of 4 interleaved slices
TTL_S = 3_600.0  # long: entries expire by the size bound here, as in cachetools.LRUCache
WORKLOADS = {"uniform": ("uniform", 20_000), "zipf": ("zipf", 100_000)}  # shape, key space
STAMPEDE_CALLERS = 1_000
STAMPEDE_LOAD_S = 0.05
REFERENCE = "cachetools.LRUCache"
VALUE = b"x" * 64

# CPU time of this process, not wall time: the benchmark machine is shared (2 cores, test
# suites running alongside), and CPU time leaves out the moments another process has the core.
_cpu = time.process_time_ns

Slice = Callable[[int, int], int]  # (first op, ops) -> ns


def draw_ops(shape: str, key_space: int, rng: random.Random) -> list[tuple[bool, str]]:
    """``OPS`` operations: (is_get, key), the same list for every subject."""
    keys = [f"product:{i}" for i in range(key_space)]
    if shape == "uniform":
        chosen = [keys[rng.randrange(key_space)] for _ in range(OPS)]
    else:
        weights = list(itertools.accumulate(1.0 / rank for rank in range(1, key_space + 1)))
        # Shuffled ranks: the hot keys are not the first ones inserted.
        rng.shuffle(keys)
        chosen = rng.choices(keys, cum_weights=weights, k=OPS)
    return [(rng.random() < GET_SHARE, key) for key in chosen]


def subjects(ops: list[tuple[bool, str]]) -> dict[str, Slice]:
    """Name -> slice runner. Every loop has the same shape; ours passes the TTL as well."""
    n = len(ops)

    def ours() -> Slice:
        cache: LruCache[str, bytes] = LruCache(BOUND, SystemClock())
        get, put = cache.get, cache.put

        def run(start: int, count: int) -> int:
            began = _cpu()
            for i in range(start, start + count):
                is_get, key = ops[i % n]
                if is_get:
                    get(key)
                else:
                    put(key, VALUE, TTL_S)
            return _cpu() - began

        return run

    def theirs(cache: cachetools.Cache[str, bytes]) -> Slice:
        get, put = cache.get, cache.__setitem__

        def run(start: int, count: int) -> int:
            began = _cpu()
            for i in range(start, start + count):
                is_get, key = ops[i % n]
                if is_get:
                    get(key)
                else:
                    put(key, VALUE)
            return _cpu() - began

        return run

    return {
        "bazaar LruCache (TTL)": ours(),
        REFERENCE: theirs(cachetools.LRUCache(BOUND)),
        "cachetools.TTLCache": theirs(cachetools.TTLCache(BOUND, TTL_S)),
    }


def hit_rate(ops: list[tuple[bool, str]]) -> float:
    """The share of gets that find their key, replaying ops once on a fresh LruCache."""
    cache: LruCache[str, bytes] = LruCache(BOUND, SystemClock())
    gets = hits = 0
    for is_get, key in ops:
        if is_get:
            gets += 1
            hits += cache.get(key) is not None
        else:
            cache.put(key, VALUE, TTL_S)
    return hits / gets


def throughput(shape: str, key_space: int) -> dict[str, Any]:
    ops = draw_ops(shape, key_space, random.Random(20_240_808))
    runners = subjects(ops)
    names = list(runners)
    for run in runners.values():  # warm up: fill every cache to its bound
        run(0, OPS)
    cursor = dict.fromkeys(names, 0)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for run_index in range(RUNS):
        spent = dict.fromkeys(names, 0)
        for turn in range(SLICES):
            # Rotate the order so drift and bursts of load fall on every subject alike.
            shift = (run_index * SLICES + turn) % len(names)
            for name in names[shift:] + names[:shift]:
                spent[name] += runners[name](cursor[name], SLICE_OPS)
                cursor[name] += SLICE_OPS
        for name in names:
            samples[name].append(SLICES * SLICE_OPS / (spent[name] / 1e9))
    reference = samples[REFERENCE]
    rows = {
        name: {
            "median_ops_per_s": statistics.median(runs),
            "min_ops_per_s": min(runs),
            "max_ops_per_s": max(runs),
            "median_ratio_to_lrucache": statistics.median(
                [ours / theirs for ours, theirs in zip(runs, reference, strict=True)]
            ),
            "runs_ops_per_s": runs,
        }
        for name, runs in samples.items()
    }
    return {"key_space": key_space, "get_hit_rate": hit_rate(ops), "subjects": rows}


async def stampede(instances: int) -> dict[str, Any]:
    """``STAMPEDE_CALLERS`` concurrent gets of one cold key over ``instances`` caches."""
    clock = SystemClock()
    store, lock = MemoryCacheStore(clock), MemoryLoadLock(clock)
    policy = CachePolicy(ttl_s=60.0, negative_ttl_s=5.0, lock_wait_s=5.0, lock_poll_s=0.01)
    caches = [
        LayeredCache(
            f"stampede{instances}",
            codec=BytesCodec(),
            policy=policy,
            clock=clock,
            rng=random.Random(i),
            l1=LruCache(1_000, clock),
            l2=store,
            lock=lock,
        )
        for i in range(instances)
    ]
    loads = 0

    async def loader() -> bytes:
        nonlocal loads
        loads += 1
        await asyncio.sleep(STAMPEDE_LOAD_S)
        return VALUE

    began = time.perf_counter()
    reads = await asyncio.gather(
        *(caches[i % instances].get("hot", loader) for i in range(STAMPEDE_CALLERS))
    )
    elapsed = time.perf_counter() - began
    return {
        "callers": STAMPEDE_CALLERS,
        "instances": instances,
        "loads": loads,
        "all_served": all(read.value == VALUE for read in reads),
        "wall_s": elapsed,
    }


def _version(distribution: str) -> str | None:
    # Run from a checkout (PYTHONPATH=src), bazaar itself is not an installed distribution.
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    results = {name: throughput(*shape) for name, shape in WORKLOADS.items()}
    print(f"P8: L1 get/put per second (CPU time), {GET_SHARE:.0%} get, bound {BOUND:,}")
    print(f"{'workload':<9} {'subject':<24} {'ops/s':>12} {'x LRUCache':>11} {'get hits':>9}")
    for workload, result in results.items():
        for name, row in result["subjects"].items():
            print(
                f"{workload:<9} {name:<24} {row['median_ops_per_s']:>12,.0f} "
                f"{row['median_ratio_to_lrucache']:>11.2f} {result['get_hit_rate']:>9.1%}"
            )
    stampedes = [asyncio.run(stampede(1)), asyncio.run(stampede(2))]
    for run in stampedes:
        print(
            f"stampede: {run['callers']:,} concurrent misses over {run['instances']} "
            f"instance(s) -> {run['loads']} load(s) in {run['wall_s'] * 1000:.0f} ms"
        )
    ratios = {
        workload: result["subjects"]["bazaar LruCache (TTL)"]["median_ratio_to_lrucache"]
        for workload, result in results.items()
    }
    meets = min(ratios.values()) >= TARGET_RATIO and all(s["loads"] == 1 for s in stampedes)
    print(
        f"P8: lowest ratio {min(ratios.values()):.2f}x (target {TARGET_RATIO}x), "
        f"stampede loads {[s['loads'] for s in stampedes]} (target 1): "
        f"{'meets' if meets else 'MISSES'}"
    )
    report = {
        "benchmark": "cache_vs_cachetools",
        "target": "P8: L1 get/put ops/s >= 1.0x cachetools.LRUCache; "
        "stampede: 1,000 concurrent misses -> exactly 1 load",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
        },
        "versions": {"bazaar": _version("bazaar"), "cachetools": _version("cachetools")},
        "method": {
            "throughput": f"{RUNS} runs of {SLICES} slices of {SLICE_OPS} operations per "
            "subject, subjects interleaved and rotated every slice; CPU time "
            "(process_time_ns); median of runs; ratio = ours / LRUCache run by run, median. "
            f"One pre-drawn sequence per workload ({OPS} operations, {GET_SHARE:.0%} get, "
            f"the rest put) replayed by every subject; bound {BOUND} entries; ours with "
            f"SystemClock and TTL {TTL_S} s, TTLCache with the same TTL; caches filled "
            "(warm-up) before timing. Workloads (shape, key space): " + json.dumps(WORKLOADS),
            "stampede": f"{STAMPEDE_CALLERS} concurrent LayeredCache.get of one cold key; "
            "L1 + MemoryCacheStore + MemoryLoadLock on SystemClock; the loader sleeps "
            f"{STAMPEDE_LOAD_S} s; over one instance, then two sharing store and lock.",
        },
        "results": {"throughput": results, "stampede": stampedes},
        "ratios": {"ours_over_lrucache": ratios},
        "targets": {"ratio": TARGET_RATIO, "stampede_loads": 1},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
