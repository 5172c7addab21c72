"""Rate-limit policies at the HTTP edge (capabilities §3.3, §2.6): which limiter, keyed by whom.

Policies (product.md "Settings"), each ``<algorithm>:<limit>/<seconds>`` or ``off``:

* ``default`` — every ``/api/*`` request, per user (or API key owner), per IP when anonymous;
* ``payments`` — ``POST /api/v1/payments…`` per user, on top of ``default``;
* ``login`` — failed logins per account and per IP (``LoginThrottle``);
* ``plan_<plan>`` — every ``/api/*`` request of a tenant on that plan, one allowance shared
  by all its users (tenant plan tiers; the operator sets a tenant's plan).

A store failure fails *open* for ``default``, ``payments`` and the plans (refusing all
traffic because Redis blinked would turn a cache outage into a full outage) and *closed*
for ``login`` (letting guesses through unlimited is what the limit exists to prevent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from bazaar.kernel.clock import Clock
from bazaar.kernel.ratelimit import (
    Decision,
    FailureMode,
    RateLimit,
    RateLimiter,
    RateLimitEvent,
    RateLimitListener,
    RateLimitStore,
    StoreFailed,
)

__all__ = [
    "DEFAULT_POLICY",
    "LOGIN_POLICY",
    "PAYMENTS_POLICY",
    "PLAN_POLICY_PREFIX",
    "AppliedLimit",
    "Caller",
    "RateLimitLogListener",
    "RateLimitPolicies",
    "rate_limit_headers",
    "retry_after_seconds",
]

DEFAULT_POLICY = "default"
LOGIN_POLICY = "login"
PAYMENTS_POLICY = "payments"
PLAN_POLICY_PREFIX = "plan_"

_FAILURE_MODES: Mapping[str, FailureMode] = {
    DEFAULT_POLICY: FailureMode.OPEN,
    PAYMENTS_POLICY: FailureMode.OPEN,
    LOGIN_POLICY: FailureMode.CLOSED,
}
_SCOPES: Mapping[str, str] = {
    DEFAULT_POLICY: "every /api/* request, per user (per IP when anonymous)",
    PAYMENTS_POLICY: "POST /api/v1/payments and refunds, per user",
    LOGIN_POLICY: "failed logins, per account and per IP; a success resets the account",
}


log = structlog.get_logger("bazaar.api.ratelimits")


class RateLimitLogListener:
    """Logs a store failure (once per event: every failed decision is one line) and hands
    every event on to the next listener (metrics)."""

    def __init__(self, then: RateLimitListener | None = None) -> None:
        self.then = then

    def on_event(self, event: RateLimitEvent) -> None:
        if isinstance(event, StoreFailed):
            log.warning(
                "rate_limit_store_failed",
                policy=event.limiter,
                error=event.error,
                failure_mode=event.failure_mode.value,
            )
        if self.then is not None:
            self.then.on_event(event)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is counted as: ``subject`` (``user:<tenant>:<user>`` or ``ip:<addr>``)
    and, for an authenticated caller, its tenant and the tenant's plan."""

    subject: str
    tenant_id: int | None = None
    plan: str | None = None

    @property
    def plan_policy(self) -> str | None:
        return None if self.plan is None else PLAN_POLICY_PREFIX + self.plan

    @property
    def tenant_subject(self) -> str | None:
        return None if self.tenant_id is None else f"tenant:{self.tenant_id}"


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    """One policy's decision for one request."""

    policy: str
    decision: Decision


class RateLimitPolicies:
    """The process's limiters, one per enabled policy, over one shared store."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit | None],
        store: RateLimitStore,
        clock: Clock,
        *,
        listener: RateLimitListener | None = None,
        shared: bool = False,
    ) -> None:
        """Build the limiters.

        Args:
            limits: policy name -> its limit, None when the policy is switched off.
            store: where every limiter keeps its counters.
            clock: the time ``X-RateLimit-Reset`` and ``Retry-After`` are computed against.
            listener: receives every decision (metrics).
            shared: the store is shared by every API process (Redis), for the admin view.
        """
        self.clock = clock
        self.store = store
        self.shared = shared
        self.limits = dict(limits)
        self._limiters: dict[str, RateLimiter] = {
            name: RateLimiter(
                name,
                limit,
                store,
                failure_mode=_FAILURE_MODES.get(name, FailureMode.OPEN),
                listener=RateLimitLogListener(listener),
                clock=clock,
            )
            for name, limit in limits.items()
            if limit is not None
        }

    @property
    def has_plans(self) -> bool:
        """Whether any plan tier is enabled (else a caller's plan needs no look)."""
        return any(name.startswith(PLAN_POLICY_PREFIX) for name in self._limiters)

    def limiter(self, policy: str) -> RateLimiter | None:
        """The policy's limiter, or None when the policy is off."""
        return self._limiters.get(policy)

    async def decide(self, policy: str, subject: str, cost: int = 1) -> AppliedLimit | None:
        """Charge ``subject`` under ``policy``; None when the policy is off."""
        limiter = self._limiters.get(policy)
        if limiter is None:
            return None
        return AppliedLimit(policy, await limiter.decide(_key(policy, subject), cost))

    async def peek(self, policy: str, subject: str) -> AppliedLimit | None:
        """The subject's standing under ``policy`` without charging it."""
        return await self.decide(policy, subject, cost=0)

    async def reset(self, policy: str, subject: str) -> None:
        """Forget the subject's usage under ``policy`` (a successful login).

        Raises:
            RateLimitStoreError: the store is unreachable; the usage stays as it was.
        """
        limiter = self._limiters.get(policy)
        if limiter is not None:
            await limiter.reset(_key(policy, subject))

    def describe(self) -> list[dict[str, object]]:
        """Every policy, enabled or not, for the admin view and the console."""
        rows: list[dict[str, object]] = []
        for name in sorted(self.limits):
            limit = self.limits[name]
            rows.append(
                {
                    "name": name,
                    "enabled": limit is not None,
                    "spec": str(limit) if limit is not None else "off",
                    "algorithm": limit.algorithm.value if limit is not None else None,
                    "limit": limit.limit if limit is not None else None,
                    "period_s": limit.period_s if limit is not None else None,
                    "failure_mode": _FAILURE_MODES.get(name, FailureMode.OPEN).value,
                    "applies_to": _SCOPES.get(name, _plan_scope(name)),
                }
            )
        return rows


def _plan_scope(policy: str) -> str:
    plan = policy.removeprefix(PLAN_POLICY_PREFIX)
    return f"every /api/* request of a tenant on plan {plan!r}, shared by its users"


def _key(policy: str, subject: str) -> str:
    # Two policies may share a spec; the policy name keeps their counters apart.
    return f"{policy}|{subject}"


def retry_after_seconds(decision: Decision) -> int:
    """Whole seconds for ``Retry-After``: rounded up, at least 1 (0 would invite a hot loop)."""
    return max(1, math.ceil(decision.retry_after_s))


def _window_s(limit: RateLimit) -> int:
    return max(1, math.ceil(limit.period_s))


def rate_limit_headers(
    applied: Sequence[AppliedLimit], limits: Mapping[str, RateLimit | None], now: float
) -> list[tuple[bytes, bytes]]:
    """The headers of api.md "Conventions" for the policies that judged a request.

    ``X-RateLimit-*`` describe the policy closest to refusing (the one a client must pace
    itself by); ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers,
    as structured-field lists) name every policy that applied.
    """
    if not applied:
        return []
    tightest = min(applied, key=lambda item: (item.decision.remaining, -item.decision.reset_at))
    decision = tightest.decision
    headers = [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(math.ceil(decision.reset_at)).encode()),
    ]
    policy_items: list[str] = []
    state_items: list[str] = []
    for item in applied:
        limit = limits.get(item.policy)
        window = _window_s(limit) if limit is not None else 1
        reset_in = max(0, math.ceil(item.decision.reset_at - now))
        policy_items.append(f'"{item.policy}";q={item.decision.limit};w={window}')
        state_items.append(f'"{item.policy}";r={item.decision.remaining};t={reset_in}')
    headers.append((b"ratelimit-policy", ", ".join(policy_items).encode()))
    headers.append((b"ratelimit", ", ".join(state_items).encode()))
    return headers
