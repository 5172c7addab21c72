"""Tour ``ratelimit``: five algorithms side by side, then the live ``default`` policy (§3.1–3.3).

Part 1 is the algorithms themselves, simulated in the tour's own process: the kernel's pure
cores, driven through a ``MemoryRateLimitStore`` on a ``ManualClock`` (no server, no
sleeping). One client offers the same traffic to each (a burst of 20 at t = 0, then 4 a
second) under a limit of 10 per 10 s; a table shows what each admitted, second by second,
and each algorithm's defining property is checked on those numbers.

Part 2 is the running system: its policies from ``GET /api/v1/admin/ratelimits``, then a
fresh user's ``X-RateLimit-Remaining`` counting down under ``default``, one request at a
time and then 40 at once. That policy is ``token_bucket:6000/60`` unless configured
otherwise and the tour cannot change it, so it does not try to exhaust it: it checks that
each request costs one unit (less what the policy gives back meanwhile: 100 a second) and
that the admin view's ``usage`` for the user agrees with the headers. With ``default`` off,
it says so and checks only that no limit headers are sent.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import httpx
from rich import box
from rich.padding import Padding
from rich.table import Table

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import Algorithm, MemoryRateLimitStore, RateLimit
from bazaar.tour.runner import Scenario, Story, TourFailedError, bearer

__all__ = ["SCENARIO"]

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
# Live requests under `default`: enough to watch Remaining count down, nowhere near 6000.
LIVE_REQUESTS = 10
BURST_REQUESTS = 40  # then at once, so the countdown outruns the refill


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


def _operator(story: Story) -> dict[str, str]:
    key = story.config.operator_key
    return {"x-operator-key": key} if key else {}


def _remaining(response: httpx.Response) -> int:
    value = response.headers.get("x-ratelimit-remaining")
    if value is None or not value.isdigit():
        raise TourFailedError(
            f"{response.request.method} {response.request.url.path} → {response.status_code} "
            "without X-RateLimit-Remaining"
        )
    return int(value)


async def _live(story: Story) -> None:
    client = story.client
    story.step(
        "[bold]Part 2 — live[/]: the running system's policies, from GET /api/v1/admin/ratelimits"
    )
    response = await client.get("/api/v1/admin/ratelimits", headers=_operator(story))
    if response.status_code != 200:
        raise TourFailedError(
            f"GET /api/v1/admin/ratelimits → {response.status_code}; run the system with "
            "--demo or pass --operator-key"
        )
    view: dict[str, Any] = response.json()
    for row in view["policies"]:
        failing = f" (fails {row['failure_mode']} when its store is down)" if row["enabled"] else ""
        story.step(f"   {row['name']:<9}{row['spec']:<23}{row['applies_to']}{failing}")
    story.step(
        f"counters are {'shared by every API process (Redis)' if view['shared'] else 'per process'}"
        f"; this anonymous call was counted as {view['subject']}"
    )
    default = next((p for p in view["policies"] if p["name"] == "default"), None)
    if default is None or not default["enabled"]:
        story.step(
            "the server's `default` policy is off (BAZAAR_RATE_LIMITS__DEFAULT=off): there is "
            "no live limit to count down, so the live countdown checks are skipped"
        )
        story.check(
            "x-ratelimit-limit" not in response.headers,
            "with `default` off, API responses carry no X-RateLimit headers",
        )
        return
    policy = Policy(
        str(default["spec"]),
        str(default["algorithm"]),
        int(default["limit"]),
        float(default["period_s"]),
    )
    tenant = await story.create_tenant()
    auth = bearer(await story.admin_token(tenant))
    user_id = await _one_at_a_time(story, auth, policy)
    await _all_at_once(story, auth, policy)
    await _admin_view_agrees(story, auth, policy, f"user:{tenant['id']}:{user_id}")


@dataclass(frozen=True, slots=True)
class Policy:
    """The server's ``default`` policy, as the admin view describes it."""

    spec: str
    algorithm: str
    limit: int
    period_s: float

    @property
    def rate(self) -> float:
        return self.limit / self.period_s

    @property
    def fixed_window(self) -> bool:
        return self.algorithm == Algorithm.FIXED_WINDOW.value

    def regained(self, elapsed_s: float) -> int:
        """How far ``Remaining`` may climb back in ``elapsed_s``, on top of the unit each
        request costs: a bucket refills (drains) at the rate, a sliding window's estimate
        decays no faster, a fixed window gives nothing back until it ends."""
        return 0 if self.fixed_window else math.floor(self.rate * elapsed_s) + 1


@dataclass(frozen=True, slots=True)
class Sample:
    remaining: int
    reset: str
    sent: float
    received: float


async def _get_me(story: Story, auth: dict[str, str]) -> tuple[httpx.Response, Sample]:
    sent = time.perf_counter()
    response = await story.client.get("/api/v1/me", headers=auth)
    if response.status_code != 200:
        raise TourFailedError(f"GET /api/v1/me → {response.status_code}")
    sample = Sample(
        _remaining(response),
        response.headers.get("x-ratelimit-reset", ""),
        sent,
        time.perf_counter(),
    )
    return response, sample


async def _one_at_a_time(story: Story, auth: dict[str, str], policy: Policy) -> str:
    """Sequential requests: each costs one unit, less what came back since the last one."""
    story.step(
        f"a fresh tenant's admin signs in and calls GET /api/v1/me {LIVE_REQUESTS} times, one "
        f"after the other (far below {policy.limit}: the tour does not try to exhaust "
        f"{policy.spec})"
    )
    samples: list[Sample] = []
    for _ in range(LIVE_REQUESTS):
        last, sample = await _get_me(story, auth)
        samples.append(sample)
    story.step(f"   X-RateLimit-Remaining: {', '.join(str(s.remaining) for s in samples)}")
    story.step(
        f"   X-RateLimit-Limit: {last.headers.get('x-ratelimit-limit')}; RateLimit-Policy: "
        f"{last.headers.get('ratelimit-policy')}; RateLimit: {last.headers.get('ratelimit')}"
    )
    story.check(
        samples[0].remaining == policy.limit - 1,
        f"a fresh user starts with the whole allowance: {policy.limit} - 1 after its first request",
    )
    exact = 0
    held = True
    for before, after in pairwise(samples):
        regained = after.remaining - (before.remaining - 1)
        exact += regained == 0
        if policy.fixed_window and after.reset != before.reset:  # a new window began
            held = held and after.remaining == policy.limit - 1
        else:
            # Between the two decisions: at most from sending one to receiving the other.
            held = held and 0 <= regained <= policy.regained(after.received - before.sent)
    pace_ms = (samples[-1].received - samples[0].sent) / LIVE_REQUESTS * 1000
    if policy.fixed_window:
        how = f"Remaining fell by exactly one on {exact} of {LIVE_REQUESTS - 1} requests"
    else:
        how = (
            f"Remaining fell by one on {exact} of {LIVE_REQUESTS - 1}; at {pace_ms:.0f} ms a "
            f"request, {policy.rate:g}/s gives about {policy.rate * pace_ms / 1000:.1f} back "
            "in between"
        )
    story.check(held, f"each request costs exactly one unit ({how})")
    window_s = max(1, math.ceil(policy.period_s))
    story.check(
        f'"default";q={policy.limit};w={window_s}' in last.headers.get("ratelimit-policy", ""),
        f'RateLimit-Policy names the policy, its quota and window: "default";q={policy.limit};'
        f"w={window_s}",
    )
    return str(last.json()["id"])


async def _all_at_once(story: Story, auth: dict[str, str], policy: Policy) -> None:
    """Concurrent requests: the countdown outruns the refill."""
    _, before = await _get_me(story, auth)
    results = await asyncio.gather(*(_get_me(story, auth) for _ in range(BURST_REQUESTS)))
    finished = time.perf_counter()
    left = sorted((sample.remaining for _, sample in results), reverse=True)
    lowest = left[-1]
    floor = before.remaining - BURST_REQUESTS
    took_s = finished - before.received
    story.step(
        f"one more ({before.remaining} left), then {BURST_REQUESTS} at once → "
        f"X-RateLimit-Remaining {', '.join(map(str, left[:4]))}, … {lowest} within "
        f"{took_s * 1000:.0f} ms: {BURST_REQUESTS} taken, {lowest - floor} given back "
        f"meanwhile (this client got {BURST_REQUESTS / took_s:.0f} requests/s through; the "
        f"policy gives back {policy.rate:g}/s)"
    )
    turned = policy.fixed_window and any(s.reset != before.reset for _, s in results)
    allowance = policy.limit if turned else policy.regained(finished - before.sent)
    story.check(
        floor <= lowest <= floor + allowance,
        f"{BURST_REQUESTS} concurrent requests take {BURST_REQUESTS} units, less what came "
        "back in the meantime",
    )


async def _admin_view_agrees(
    story: Story, auth: dict[str, str], policy: Policy, subject: str
) -> None:
    started = time.perf_counter()
    response = await story.client.get(
        "/api/v1/admin/ratelimits", headers={**auth, **_operator(story)}
    )
    elapsed_s = time.perf_counter() - started
    mine: dict[str, Any] = response.json()
    usage = next(p for p in mine["policies"] if p["name"] == "default")["usage"] or {}
    charged = _remaining(response)
    story.step(
        f"GET /api/v1/admin/ratelimits as that user → subject {mine['subject']}; default "
        f"usage.remaining {usage.get('remaining')} of {usage.get('limit')} (the view's own "
        f"request was charged too: X-RateLimit-Remaining {charged})"
    )
    story.check(
        mine["subject"] == subject,
        "a signed-in caller is counted as user:<tenant>:<user>, not by its address",
    )
    remaining = usage.get("remaining")
    story.check(
        isinstance(remaining, int)
        and usage.get("limit") == policy.limit
        and charged <= remaining <= charged + policy.regained(elapsed_s),
        "the admin view's usage.remaining agrees with the headers (the view only peeks; its "
        "own request was charged like any other)",
    )


async def run(story: Story) -> None:
    await _algorithms(story)
    await _live(story)


SCENARIO = Scenario(
    name="ratelimit",
    concept="rate limiting: five algorithms, policies and headers",
    capability="§3.1–3.3",
    run=run,
)
