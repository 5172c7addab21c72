"""Tour ``login-throttle``: failed logins counted per account and per IP → 429 (§2.6).

Under the ``login`` policy (``fixed_window:5/900`` unless configured otherwise) the story is:
five wrong passwords for alice, each 401; then even her right password gets 429 with
``Retry-After``; from the same address bob's right password is refused too (the address is
locked), while from another address alice is still refused (the account is locked) and bob
gets in. Last, a success resets the account's counter: carol fails four times, logs in, fails
four more times and logs in again, where without the reset her sixth attempt would be 429.

The per-IP counter never forgets a failure before its window ends, so failing from the tour's
own address would lock every later scenario (and the user's own logins) out for 15 minutes.
Linux routes all of 127.0.0.0/8 to the loopback interface, so when the system runs on this
host the failures come from other loopback addresses, picked at random (127.0.0.2–254) and
only if the admin view shows them unused. Elsewhere the tour falls back to its own address,
warns that it is now locked out of logins, and skips what needs a second address.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bazaar.tour.runner import Scenario, Story, TourFailedError

__all__ = ["SCENARIO"]

# The lockout story must not straddle the turn of a clock-aligned window (which would forget
# the failures half-way): when one ends sooner than this, wait for the next.
TURN_MARGIN_S = 40.0
# How many random loopback addresses to try before giving up on finding unused ones.
CANDIDATES = 24


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class Source:
    """An HTTP client whose requests come from ``address``."""

    address: str
    client: httpx.AsyncClient


def _operator(story: Story) -> dict[str, str]:
    key = story.config.operator_key
    return {"x-operator-key": key} if key else {}


async def _view(story: Story, client: httpx.AsyncClient, ip: str | None = None) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/admin/ratelimits",
        params={"ip": ip} if ip else None,
        headers=_operator(story),
    )
    if response.status_code != 200:
        raise TourFailedError(
            f"GET /api/v1/admin/ratelimits → {response.status_code}; run the system with "
            "--demo or pass --operator-key"
        )
    view: dict[str, Any] = response.json()
    return view


def _login_policy(view: dict[str, Any]) -> dict[str, Any] | None:
    policy: dict[str, Any] | None = next(
        (p for p in view["policies"] if p["name"] == "login"), None
    )
    return policy


def _login_usage(view: dict[str, Any]) -> dict[str, Any]:
    policy = _login_policy(view)
    usage: dict[str, Any] = (policy or {}).get("usage") or {}
    return usage


def _clock(epoch_s: float | str) -> str:
    return datetime.fromtimestamp(float(epoch_s), UTC).strftime("%H:%M:%S UTC")


async def _register(story: Story, tenant: dict[str, Any], name: str) -> Account:
    email = f"{story.unique(name)}@tour.example"
    password = f"{name}-right-{os.urandom(6).hex()}"
    response = await story.client.post(
        "/api/v1/auth/register",
        json={"tenant_id": tenant["id"], "email": email, "password": password},
    )
    if response.status_code != 201:
        raise TourFailedError(f"could not register {name} ({response.status_code})")
    return Account(name, email, password)


async def _login(
    client: httpx.AsyncClient, tenant: dict[str, Any], account: Account, *, right: bool
) -> httpx.Response:
    password = account.password if right else "wrong-" + os.urandom(6).hex()
    return await client.post(
        "/api/v1/auth/login",
        json={"tenant_id": tenant["id"], "email": account.email, "password": password},
    )


def _slug(response: httpx.Response) -> str:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return ""
    return str(response.json().get("type", "")).rsplit("/", 1)[-1]


async def _loopback_sources(
    story: Story, stack: AsyncExitStack, count: int, limit: int
) -> list[Source] | None:
    """``count`` clients bound to unused loopback addresses, or None where that cannot work
    (the system is not on this host, the address cannot be bound, or the system does not see
    it: a proxy in between)."""
    url = story.client.base_url
    if url.host != "localhost" and not url.host.startswith("127."):
        return None
    base = url.copy_with(host="127.0.0.1") if url.host == "localhost" else url
    rng = random.Random(os.urandom(16))
    sources: list[Source] = []
    for last in rng.sample(range(2, 255), CANDIDATES):
        address = f"127.0.0.{last}"
        if address == url.host:
            continue
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=base,
                timeout=story.config.timeout_s,
                transport=httpx.AsyncHTTPTransport(local_address=address),
            )
        )
        try:
            view = await _view(story, client)
        except httpx.HTTPError:
            return None
        if view["subject"] != f"ip:{address}":
            return None
        if _login_usage(view).get("remaining") == limit:  # no failures counted yet
            sources.append(Source(address, client))
            if len(sources) == count:
                return sources
    return None


async def _away_from_window_turn(story: Story, login: dict[str, Any]) -> None:
    if login["algorithm"] != "fixed_window":
        return
    reset_at = (login.get("usage") or {}).get("reset_at")
    if not isinstance(reset_at, int | float):
        return
    wait_s = float(reset_at) - time.time()
    if 0 < wait_s < min(TURN_MARGIN_S, float(login["period_s"]) / 2):
        story.step(
            f"the login policy counts in clock-aligned {login['period_s']:g} s windows and this "
            f"one ends in {wait_s:.0f} s ({_clock(reset_at)}); waiting for the next one so the "
            "story does not straddle the turn"
        )
        await asyncio.sleep(wait_s + 0.5)


async def _lock_out(
    story: Story,
    tenant: dict[str, Any],
    source: Source,
    alice: Account,
    bob: Account,
    limit: int,
    period_s: float,
) -> None:
    """``limit`` failures for alice from ``source``, then the lockout of alice and of it."""
    statuses = []
    for attempt in range(1, limit + 1):
        response = await _login(source.client, tenant, alice, right=False)
        statuses.append(response.status_code)
        story.step(
            f"from {source.address}: alice, wrong password (attempt {attempt}) → "
            f"{response.status_code} {_slug(response)}"
        )
    story.check(
        statuses == [401] * limit,
        f"{limit} wrong passwords → {limit} × 401 (alice's account and {source.address} have "
        f"used up their {limit} failures)",
    )

    response = await _login(source.client, tenant, alice, right=True)
    retry_after = response.headers.get("retry-after", "")
    reset = response.headers.get("x-ratelimit-reset", "")
    story.step(
        f"from {source.address}: alice, the RIGHT password → {response.status_code} "
        f"{_slug(response)}; Retry-After: {retry_after} s"
    )
    story.step(
        f"   X-RateLimit-Limit: {response.headers.get('x-ratelimit-limit')}, "
        f"X-RateLimit-Remaining: {response.headers.get('x-ratelimit-remaining')}, "
        f"X-RateLimit-Reset: {reset}" + (f" ({_clock(reset)})" if reset.isdigit() else "")
    )
    story.check(
        response.status_code == 429
        and _slug(response) == "rate-limited"
        and retry_after.isdigit()
        and 0 < int(retry_after) <= period_s
        and response.headers.get("x-ratelimit-limit") == str(limit)
        and response.headers.get("x-ratelimit-remaining") == "0",
        "during the lockout even the right password gets 429 rate-limited with Retry-After "
        "(answering it differently would confirm the guess)",
    )

    response = await _login(source.client, tenant, bob, right=True)
    story.step(
        f"from {source.address}: bob (no failures of his own), the right password → "
        f"{response.status_code} {_slug(response)}; Retry-After: "
        f"{response.headers.get('retry-after')} s"
    )
    story.check(
        response.status_code == 429 and _slug(response) == "rate-limited",
        f"the address is locked too: from {source.address} no account can log in (per-IP counter)",
    )


async def _locked_everywhere(
    story: Story, tenant: dict[str, Any], lock: Source, own: str, alice: Account, bob: Account
) -> None:
    """The address is locked for everyone, the account from everywhere; nobody else is."""
    standing = _login_usage(await _view(story, story.client, ip=lock.address))
    story.step(
        f"GET /api/v1/admin/ratelimits?ip={lock.address} → login: {standing.get('remaining')} "
        f"of {standing.get('limit')} left, limited until {_clock(standing.get('reset_at', 0))}"
    )
    story.check(
        standing.get("remaining") == 0 and standing.get("limited") is True,
        f"the admin view shows {lock.address} locked",
    )
    response = await _login(story.client, tenant, alice, right=True)
    story.step(
        f"from {own}: alice, the right password → {response.status_code} {_slug(response)}; "
        f"Retry-After: {response.headers.get('retry-after')} s"
    )
    story.check(
        response.status_code == 429 and _slug(response) == "rate-limited",
        f"alice's account is locked from any address (per-account counter), {own} too",
    )
    response = await _login(story.client, tenant, bob, right=True)
    story.step(f"from {own}: bob, the right password → {response.status_code}")
    story.check(
        response.status_code == 200,
        f"but {own} is not locked and neither is bob: the two counters are separate",
    )


async def _success_resets(
    story: Story,
    tenant: dict[str, Any],
    sources: tuple[Source, Source],
    carol: Account,
    limit: int,
) -> None:
    """limit - 1 failures and a success, twice: the account counter starts again after each
    success (two addresses, since an address's failures are never reset)."""
    story.step(
        "a success resets the account's counter (not the address's): carol fails "
        f"{limit - 1} times and logs in, twice; without the reset her attempt "
        f"{limit + 1} would be refused"
    )
    rounds: list[tuple[list[int], int]] = []
    for source in sources:
        failures = [
            (await _login(source.client, tenant, carol, right=False)).status_code
            for _ in range(limit - 1)
        ]
        success = (await _login(source.client, tenant, carol, right=True)).status_code
        rounds.append((failures, success))
        story.step(
            f"from {source.address}: carol, wrong password × {limit - 1} → "
            f"{' '.join(map(str, failures))}; then the right password → {success}"
        )
    (failures, success), (again, success_again) = rounds
    story.check(
        failures == [401] * (limit - 1) and success == 200,
        f"{limit - 1} failures leave carol one attempt, and the right password gets in",
    )
    story.check(
        again == [401] * (limit - 1) and success_again == 200,
        f"after the success her account counted from zero again: attempts {limit + 1}–"
        f"{2 * limit} were answered, not refused",
    )
    first = sources[0].address
    standing = _login_usage(await _view(story, story.client, ip=first))
    story.step(
        f"GET /api/v1/admin/ratelimits?ip={first} → login: {standing.get('remaining')} of "
        f"{standing.get('limit')} left"
    )
    story.check(
        standing.get("remaining") == 1,
        f"carol's success did not reset {first}: its {limit - 1} failures still count (else "
        "one valid account would launder an attacker's address)",
    )


async def run(story: Story) -> None:
    own_view = await _view(story, story.client)
    login = _login_policy(own_view)
    if login is None or not login["enabled"]:
        story.step(
            "the server's `login` policy is off (BAZAAR_RATE_LIMITS__LOGIN=off): failed "
            "logins are not throttled, so there is no lockout to show; checks skipped"
        )
        return
    limit = int(login["limit"])
    period_s = float(login["period_s"])
    if limit < 2:
        story.step(
            f"the login policy allows {limit} failure: too few to tell the counters apart; skipped"
        )
        return
    own = str(own_view["subject"]).removeprefix("ip:")
    story.step(
        f"login policy {login['spec']}: {login['applies_to']}; fails {login['failure_mode']} "
        "when its store is down"
    )
    await _away_from_window_turn(story, login)
    tenant = await story.create_tenant()
    alice, bob, carol = [await _register(story, tenant, name) for name in ("alice", "bob", "carol")]
    story.step(f"tenant {tenant['id']} with customers alice, bob and carol")

    async with AsyncExitStack() as stack:
        sources = await _loopback_sources(story, stack, 3, limit)
        if sources is None:
            story.step(
                f"[bold yellow]warning[/]: cannot send logins from a loopback address of its "
                f"own (the system is not on this host, or a proxy stands between): the failures "
                f"come from this tour's address {own}, which is now locked out of logins until "
                f"the policy's window ends (up to {period_s / 60:g} minutes)"
            )
            await _lock_out(story, tenant, Source(own, story.client), alice, bob, limit, period_s)
            story.step(
                "skipped: the account lock seen from another address and the reset by a "
                "success both need addresses of their own"
            )
            return
        lock, first, second = sources
        story.step(
            f"the failures come from loopback addresses of their own ({lock.address}, "
            f"{first.address}, {second.address}; the admin view shows each unused), so this "
            f"tour's {own} is never locked out"
        )
        await _lock_out(story, tenant, lock, alice, bob, limit, period_s)
        await _locked_everywhere(story, tenant, lock, own, alice, bob)
        await _success_resets(story, tenant, (first, second), carol, limit)


SCENARIO = Scenario(
    name="login-throttle",
    concept="login throttling: failed attempts per account and per IP",
    capability="§2.6",
    run=run,
)
