"""Rate limiting before the handler runs (capabilities §3.3): 429 with the limit headers.

Every ``/api/*`` request is charged to the ``default`` policy under its subject (the
authenticated user, else the client IP); payment writes are also charged to ``payments``;
a request of a tenant on a plan is also charged to ``plan_<plan>`` under the tenant.
Admitted responses carry the limit headers; a refused request never reaches the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, send_problem
from bazaar.api.ratelimits import (
    DEFAULT_POLICY,
    PAYMENTS_POLICY,
    AppliedLimit,
    Caller,
    RateLimitPolicies,
    rate_limit_headers,
    retry_after_seconds,
)

__all__ = ["RateLimitMiddleware", "SubjectResolver"]

# Who a request is counted as (runs once per API request).
SubjectResolver = Callable[[Scope], Awaitable[Caller]]

_API_PREFIX = "/api/"
_PAYMENTS_PREFIX = "/api/v1/payments"


class RateLimitMiddleware:
    """Charges each API request to its policies and refuses it with 429 when one says no."""

    def __init__(self, app: ASGIApp, policies: RateLimitPolicies, subject: SubjectResolver) -> None:
        """Wrap ``app``.

        Args:
            app: the application behind the limit.
            policies: the process's limiters.
            subject: finds who a request is counted under (runs once per API request).
        """
        self.app = app
        self.policies = policies
        self.subject = subject

    def _charges(self, scope: Scope, caller: Caller) -> list[tuple[str, str]]:
        """(policy, subject) pairs this request is charged to, in order."""
        charges = [(DEFAULT_POLICY, caller.subject)]
        if scope["method"] == "POST" and scope["path"].startswith(_PAYMENTS_PREFIX):
            charges.append((PAYMENTS_POLICY, caller.subject))
        plan_policy, tenant = caller.plan_policy, caller.tenant_subject
        if plan_policy is not None and tenant is not None:
            charges.append((plan_policy, tenant))
        return charges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
        if not (
            self.policies.limiter(DEFAULT_POLICY)
            or self.policies.limiter(PAYMENTS_POLICY)
            or self.policies.has_plans
        ):
            await self.app(scope, receive, send)
            return
        caller = await self.subject(scope)
        applied: list[AppliedLimit] = []
        for name, subject in self._charges(scope, caller):
            item = await self.policies.decide(name, subject)
            if item is None:
                continue
            applied.append(item)
            if not item.decision.allowed:
                await self._refuse(scope, send, applied, item)
                return
        if not applied:
            # No policy counts this request (``default`` off, no payment, no plan).
            await self.app(scope, receive, send)
            return
        delay_s = max(item.decision.delay_s for item in applied)
        if delay_s > 0:
            # A leaky-bucket policy queues the request: it leaves at the drain rate. The
            # deadline middleware outside bounds the wait.
            await self.policies.clock.sleep(delay_s)
        headers = rate_limit_headers(applied, self.policies.limits, self.policies.clock.now())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {key for key, _ in message.get("headers", ())}
                # A handler that judged the request under its own policy (login) wins.
                if b"x-ratelimit-limit" not in existing:
                    message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(
        self, scope: Scope, send: Send, applied: list[AppliedLimit], refused: AppliedLimit
    ) -> None:
        retry_after = retry_after_seconds(refused.decision)
        headers = rate_limit_headers([refused], self.policies.limits, self.policies.clock.now())
        headers.append((b"retry-after", str(retry_after).encode()))
        await send_problem(
            send,
            429,
            "rate-limited",
            detail=f"Rate limit {refused.policy!r} reached; retry after {retry_after} s.",
            instance=scope["path"],
            headers=headers,
        )
