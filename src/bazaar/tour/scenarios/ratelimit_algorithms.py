"""The first part of tour ``ratelimit``: the five algorithms side by side (§3.1).

The kernel's pure cores, driven through a ``MemoryRateLimitStore`` on a ``ManualClock`` in
the tour's own process (no server, no sleeping). One client offers the same traffic to each
(a burst of 20 at t = 0, then 4 a second) under a limit of 10 per 10 s; a table shows what
each admitted, second by second, and each algorithm's defining property is checked on
those numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

from rich import box
from rich.padding import Padding
from rich.table import Table

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import Algorithm, MemoryRateLimitStore, RateLimit
from bazaar.tour.runner import Story

__all__ = ["show_algorithms"]

LIMIT = 10
PERIOD_S = 10.0
BURST = 20  # at t = 0
STEADY_PER_S = 4  # then every 0.25 s, from t = 1 s ...
SECONDS = 12  # ... to t = 11.75 s
# Epoch seconds at t = 0. The fixed window and the sliding window counter count in windows
# aligned on the clock (floor(now / 10 s)); from here they turn over at t = 1 s and 11 s, so
# the burst lands in the last second of a window.
START = 1_700_000_009.0
ALGORITHMS = (
    Algorithm.FIXED_WINDOW,
    Algorithm.SLIDING_LOG,
    Algorithm.SLIDING_WINDOW,
    Algorithm.TOKEN_BUCKET,
    Algorithm.LEAKY_BUCKET,
)
# Float slack for comparisons of sums of quarter seconds (exact in binary, but be safe).
EPSILON = 1e-9


@dataclass(slots=True)
class Run:
    """What one algorithm did with the offered traffic (times in seconds from t = 0)."""

    algorithm: Algorithm
    admitted: list[float] = field(default_factory=list)
    rejected: list[float] = field(default_factory=list)
    departures: list[float] = field(default_factory=list)  # admitted + delay_s

    def in_second(self, second: int) -> tuple[int, int]:
        return (
            sum(1 for t in self.admitted if math.floor(t) == second),
            sum(1 for t in self.rejected if math.floor(t) == second),
        )


def _arrivals() -> list[float]:
    times = [0.0] * BURST
    for second in range(1, SECONDS):
        times.extend(second + i / STEADY_PER_S for i in range(STEADY_PER_S))
    return times


async def _simulate() -> dict[Algorithm, Run]:
    clock = ManualClock(start=START)
    store = MemoryRateLimitStore(clock)
    limits = {a: RateLimit.parse(f"{a.value}:{LIMIT}/{PERIOD_S:g}") for a in ALGORITHMS}
    runs = {a: Run(a) for a in ALGORITHMS}
    for at in _arrivals():
        clock.advance(max(0.0, START + at - clock.now()))
        for algorithm, limit in limits.items():
            decision = await store.decide(limit, "one-client")
            run = runs[algorithm]
            if decision.allowed:
                run.admitted.append(at)
                run.departures.append(at + decision.delay_s)
            else:
                run.rejected.append(at)
    return runs


def _busiest(times: list[float], span_s: float = PERIOD_S) -> int:
    """The most admissions in any interval [a, a + span) (the sliding log's own measure)."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered if start <= t < start + span_s - EPSILON) for start in ordered),
        default=0,
    )


def _window(t: float) -> int:
    return math.floor((START + t) / PERIOD_S)


def _window_estimates(admitted: list[float]) -> list[float]:
    """The sliding window counter's estimate just after each admission, recomputed from the
    admissions alone: previous window x (1 - elapsed / period) + current window so far."""
    estimates = []
    for index, t in enumerate(admitted):
        window = _window(t)
        previous = sum(1 for u in admitted if _window(u) == window - 1)
        current = sum(1 for u in admitted[: index + 1] if _window(u) == window)
        elapsed = START + t - window * PERIOD_S
        estimates.append(previous * (1 - elapsed / PERIOD_S) + current)
    return estimates


def _print_table(story: Story, runs: dict[Algorithm, Run]) -> None:
    table = Table(
        box=box.SIMPLE,
        caption="cells: admitted/rejected in that second",
        caption_justify="left",
        pad_edge=False,
    )
    table.add_column("t (s)", justify="right")
    table.add_column("offered", justify="right")
    for algorithm in ALGORITHMS:
        table.add_column(algorithm.value.replace("_", "\n"), justify="right")
    arrivals = _arrivals()
    for second in range(SECONDS):
        offered = sum(1 for t in arrivals if math.floor(t) == second)
        cells = ["{}/{}".format(*runs[a].in_second(second)) for a in ALGORITHMS]
        table.add_row(str(second), str(offered), *cells)
    table.add_section()
    table.add_row(
        "total",
        str(len(arrivals)),
        *(f"{len(runs[a].admitted)}/{len(runs[a].rejected)}" for a in ALGORITHMS),
    )
    table.add_row(
        "busiest", "10 s", *(str(_busiest(runs[a].admitted)) for a in ALGORITHMS), style="bold"
    )
    story.console.print(Padding(table, (0, 0, 0, 14)))


async def _algorithms(story: Story) -> None:
    story.step(
        "[bold]Part 1 — the algorithms themselves[/], simulated in this tour process: the "
        "kernel's five cores through a MemoryRateLimitStore on a manual clock (no server, "
        "no sleeping)"
    )
    story.step(
        f"each limit is {LIMIT} per {PERIOD_S:g} s ({Algorithm.TOKEN_BUCKET.value}:{LIMIT}/"
        f"{PERIOD_S:g} and so on); one client offers a burst of {BURST} at t = 0 s, then "
        f"{STEADY_PER_S} a second (every {1 / STEADY_PER_S:g} s) until t = "
        f"{SECONDS - 1 + (STEADY_PER_S - 1) / STEADY_PER_S:g} s; the clock-aligned windows "
        "turn over at t = 1 s and 11 s"
    )
    runs = await _simulate()
    _print_table(story, runs)

    fixed = runs[Algorithm.FIXED_WINDOW]
    per_window: dict[int, int] = {}
    for t in fixed.admitted:
        per_window[_window(t)] = per_window.get(_window(t), 0) + 1
    busiest = _busiest(fixed.admitted)
    story.step(
        f"fixed window: per clock window {sorted(per_window.values(), reverse=True)}, but "
        f"{busiest} in the 10 s from t = 0: the burst ended one window, the next began at t = 1"
    )
    story.check(
        max(per_window.values()) <= LIMIT and LIMIT < busiest <= 2 * LIMIT,
        f"fixed window: never more than {LIMIT} per window, yet up to 2 × {LIMIT} across a "
        f"boundary ({busiest} here)",
    )

    log = runs[Algorithm.SLIDING_LOG]
    resumed = next((t for t in log.admitted if t > 0), None)
    story.step(
        f"sliding log: {log.in_second(0)[0]} at t = 0, then nothing until those left the log "
        f"{PERIOD_S:g} s later (next admission at t = {resumed:g} s); busiest 10 s: "
        f"{_busiest(log.admitted)}"
    )
    story.check(
        _busiest(log.admitted) <= LIMIT,
        f"sliding log: never more than {LIMIT} in any {PERIOD_S:g} s, wherever it starts",
    )

    counter = runs[Algorithm.SLIDING_WINDOW]
    estimates = _window_estimates(counter.admitted)
    story.step(
        f"sliding window counter: highest estimate after an admission {max(estimates):.2f}; "
        f"{_busiest(counter.admitted)} in the busiest real 10 s, because it assumes the "
        "previous window's requests were spread evenly (they all came at its end)"
    )
    story.check(
        max(estimates) <= LIMIT + EPSILON,
        f"sliding window counter: previous × overlap + current stays ≤ {LIMIT} (an estimate, "
        "two counters per client)",
    )

    bucket = runs[Algorithm.TOKEN_BUCKET]
    rate = LIMIT / PERIOD_S
    later = [bucket.in_second(second)[0] for second in range(1, SECONDS)]
    story.step(
        f"token bucket: {bucket.in_second(0)[0]} at once (the full bucket), then per second "
        f"{later}: the refill rate of {rate:g}/s"
    )
    within_bound = all(
        j - i + 1 <= LIMIT + rate * (bucket.admitted[j] - bucket.admitted[i]) + EPSILON
        for i in range(len(bucket.admitted))
        for j in range(i, len(bucket.admitted))
    )
    story.check(
        bucket.in_second(0)[0] == LIMIT and within_bound,
        f"token bucket: a burst of {LIMIT}, then never more than {LIMIT} + {rate:g}/s × T in "
        "any T seconds",
    )

    leaky = runs[Algorithm.LEAKY_BUCKET]
    departures = sorted(leaky.departures)
    gaps = [b - a for a, b in pairwise(departures)]
    story.step(
        f"leaky bucket: admits what the token bucket admits ({len(leaky.admitted)}), but each "
        f"waits its delay_s in the queue; they leave at t = "
        f"{', '.join(f'{t:g}' for t in departures[:4])}, … {departures[-1]:g} s"
    )
    story.check(
        leaky.admitted == bucket.admitted
        and all(gap >= PERIOD_S / LIMIT - EPSILON for gap in gaps)
        and all(d >= a for a, d in zip(leaky.admitted, leaky.departures, strict=True)),
        f"leaky bucket: admitted requests leave (now + delay_s) no faster than the drain rate, "
        f"one every {PERIOD_S / LIMIT:g} s, however they arrived",
    )


async def show_algorithms(story: Story) -> None:
    """Print the side-by-side table and check each algorithm's property on it."""
    await _algorithms(story)
