"""Every tour scenario, by its name in concepts.md, in one explicit registry."""

from __future__ import annotations

from bazaar.tour.runner import Scenario
from bazaar.tour.scenarios import (
    breaker,
    bulkhead,
    caching,
    checkout,
    compression,
    crash,
    deadline,
    dlq,
    etag,
    http_errors,
    idempotency,
    identity,
    login_throttle,
    outbox,
    oversell,
    ratelimit,
    shedding,
    trace,
    versioning,
    webhooks,
)

__all__ = ["SCENARIOS"]

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        http_errors.SCENARIO,
        identity.SCENARIO,
        idempotency.SCENARIO,
        breaker.SCENARIO,
        bulkhead.SCENARIO,
        ratelimit.SCENARIO,
        shedding.SCENARIO,
        deadline.SCENARIO,
        outbox.SCENARIO,
        dlq.DEDUPE,
        dlq.DLQ,
        webhooks.SCENARIO,
        etag.SCENARIO,
        versioning.SCENARIO,
        compression.SCENARIO,
        caching.CACHE_ASIDE,
        caching.STAMPEDE,
        caching.PENETRATION,
        checkout.CHECKOUT,
        checkout.COMPENSATION,
        oversell.SCENARIO,
        crash.SCENARIO,
        trace.SCENARIO,
        # Last: where it cannot send its failed logins from loopback addresses of its own, it
        # locks the tour's address out of logins for the policy's window (15 min by default).
        login_throttle.SCENARIO,
    )
}
