"""Login throttling (capabilities §2.6): failed attempts per account and per IP → 429.

The account counter is charged *before* the password is checked, so concurrent guesses
cannot all slip in before the first failure is recorded; a success resets it, so a user
who logs in correctly never accumulates attempts. The IP counter is charged only on
failure (people behind one NAT logging in successfully must not lock each other out) and
is never reset by a success (or one valid account would launder an attacker's IP). During
a lockout even the right password gets 429: answering it differently would confirm the
guess.
"""

from __future__ import annotations

import math

import structlog

from bazaar.api.problems import ProblemError
from bazaar.api.ratelimits import (
    LOGIN_POLICY,
    AppliedLimit,
    RateLimitPolicies,
    rate_limit_headers,
)
from bazaar.kernel.ratelimit import RateLimitStoreError

__all__ = ["LoginAttempt", "LoginThrottle"]

log = structlog.get_logger("bazaar.api.login_throttle")


class LoginAttempt:
    """One login attempt that passed the throttle; report how it ended."""

    def __init__(self, throttle: LoginThrottle, account: str, ip: str) -> None:
        self._throttle = throttle
        self._account = account
        self._ip = ip

    async def succeeded(self) -> None:
        try:
            await self._throttle.policies.reset(LOGIN_POLICY, self._account)
        except RateLimitStoreError:
            # The login itself succeeded; its earlier failures simply age out of the window.
            log.warning("login_throttle_reset_failed")

    async def failed(self) -> None:
        await self._throttle.policies.decide(LOGIN_POLICY, self._ip)


class LoginThrottle:
    """Admits login attempts under the ``login`` policy (``fixed_window:5/900`` by default)."""

    def __init__(self, policies: RateLimitPolicies) -> None:
        self.policies = policies

    async def admit(self, *, tenant_id: int, email: str, ip: str) -> LoginAttempt:
        """Charge one attempt to the account and check the IP.

        Raises:
            ProblemError: 429 ``rate-limited`` with ``Retry-After`` while either counter is
                exhausted; 503 ``dependency-unavailable`` when the counters cannot be read
                (the policy fails closed).
        """
        account = f"account:{tenant_id}:{email.strip().lower()}"
        address = f"ip:{ip}"
        attempt = LoginAttempt(self, account, address)
        charged = await self.policies.decide(LOGIN_POLICY, account)
        if charged is None:  # the policy is off
            return attempt
        if not charged.decision.allowed:
            raise self._refusal(charged)
        standing = await self.policies.peek(LOGIN_POLICY, address)
        if standing is not None and (
            not standing.decision.allowed or standing.decision.remaining < 1
        ):
            raise self._refusal(standing)
        return attempt

    def _refusal(self, refused: AppliedLimit) -> ProblemError:
        now = self.policies.clock.now()
        decision = refused.decision
        if decision.store_failed:
            return ProblemError(
                503,
                "dependency-unavailable",
                "Login attempts cannot be counted right now; try again shortly.",
                headers={"Retry-After": "1"},
            )
        # A peek reports no wait of its own; the counter's reset is when the next try counts.
        wait_s = decision.retry_after_s or decision.reset_at - now
        retry_after = max(1, math.ceil(wait_s))
        headers = {
            key.decode(): value.decode()
            for key, value in rate_limit_headers([refused], self.policies.limits, now)
        }
        headers["Retry-After"] = str(retry_after)
        return ProblemError(
            429,
            "rate-limited",
            f"Too many failed logins; retry after {retry_after} s.",
            headers=headers,
        )
