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
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx

from bazaar.kernel.ratelimit import Algorithm
from bazaar.tour.runner import Scenario, Story, TourFailedError, bearer
from bazaar.tour.scenarios.ratelimit_algorithms import show_algorithms

__all__ = ["SCENARIO"]

# Live requests under `default`: enough to watch Remaining count down, nowhere near 6000.
LIVE_REQUESTS = 10
BURST_REQUESTS = 40  # then at once, so the countdown outruns the refill


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
    await show_algorithms(story)
    await _live(story)


SCENARIO = Scenario(
    name="ratelimit",
    concept="rate limiting: five algorithms, policies and headers",
    capability="§3.1–3.3",
    run=run,
)
