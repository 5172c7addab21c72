"""Benchmark: SnowflakeGenerator.next_id() throughput against uuid4() and time.time_ns()."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bazaar.kernel.clock import SystemClock
from bazaar.kernel.ids import SnowflakeGenerator

RUNS = 5
RUN_SECONDS = 0.3  # per run and subject: 3 subjects x 5 runs x 0.3 s keeps the total near 5 s
CHUNK = 10_000  # calls between clock checks, so checking the time barely shows in the figure
RESULTS = Path(__file__).parent / "results" / "ids_snowflake.json"


def measure(call: Callable[[], object]) -> float:
    """Return calls per second of ``call`` over about ``RUN_SECONDS``."""
    calls = 0
    started = time.perf_counter()
    deadline = started + RUN_SECONDS
    while True:
        for _ in range(CHUNK):
            call()
        calls += CHUNK
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - started)


def main() -> None:
    generator = SnowflakeGenerator(worker_id=1, clock=SystemClock())
    subjects: dict[str, Callable[[], object]] = {
        "snowflake.next_id": generator.next_id,
        "uuid.uuid4": uuid.uuid4,
        "time.time_ns": time.time_ns,
    }
    for call in subjects.values():  # warm up caches and the allocator before timing
        for _ in range(CHUNK):
            call()

    # Alternate subjects inside each round so drift (thermal, other load) hits all alike.
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(RUNS):
        for name, call in subjects.items():
            samples[name].append(measure(call))

    summary = {
        name: {
            "median_ops_per_s": statistics.median(runs),
            "min_ops_per_s": min(runs),
            "max_ops_per_s": max(runs),
            "median_ns_per_op": 1e9 / statistics.median(runs),
            "runs_ops_per_s": runs,
        }
        for name, runs in samples.items()
    }

    print(f"{'subject':<20} {'median ops/s':>14} {'min ops/s':>14} {'max ops/s':>14} {'ns/op':>8}")
    for name, row in summary.items():
        print(
            f"{name:<20} {row['median_ops_per_s']:>14,.0f} {row['min_ops_per_s']:>14,.0f} "
            f"{row['max_ops_per_s']:>14,.0f} {row['median_ns_per_op']:>8.0f}"
        )

    report = {
        "benchmark": "ids_snowflake",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "python_build": " ".join(platform.python_build()),
        },
        "method": {
            "runs": RUNS,
            "seconds_per_run": RUN_SECONDS,
            "calls_per_chunk": CHUNK,
            "order": "subjects alternate within each run",
            "statistic": "median of runs",
        },
        "results": summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
