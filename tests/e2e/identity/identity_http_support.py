"""The identity HTTP test helpers, shipped in ``bazaar.testing.identity`` for every context."""

from __future__ import annotations

from bazaar.testing.identity import (
    CHEAP_ARGON2,
    PASSWORD,
    PROBLEM_BASE,
    AppFactory,
    IdentityApi,
    Tenant,
    assert_problem,
    bearer,
)

__all__ = [
    "CHEAP_ARGON2",
    "PASSWORD",
    "PROBLEM_BASE",
    "AppFactory",
    "IdentityApi",
    "Tenant",
    "assert_problem",
    "bearer",
]
