"""Every tour scenario, by its name in concepts.md, in one explicit registry."""

from __future__ import annotations

from bazaar.tour.runner import Scenario
from bazaar.tour.scenarios import (
    breaker,
    bulkhead,
    checkout,
    crash,
    deadline,
    dlq,
    etag,
    http_errors,
    idempotency,
    identity,
    outbox,
    oversell,
    shedding,
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
        shedding.SCENARIO,
        deadline.SCENARIO,
        outbox.SCENARIO,
        dlq.DEDUPE,
        dlq.DLQ,
        webhooks.SCENARIO,
        etag.SCENARIO,
        checkout.CHECKOUT,
        checkout.COMPENSATION,
        oversell.SCENARIO,
        crash.SCENARIO,
    )
}
