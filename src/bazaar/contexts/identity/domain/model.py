"""Entities of the identity context: tenants, users, refresh tokens, API keys."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bazaar.contexts.identity.domain.access import Permission, Role
from bazaar.contexts.identity.domain.errors import RefreshTokenInvalidError, RefreshTokenReusedError

__all__ = [
    "ApiKey",
    "RefreshToken",
    "RefreshTokenState",
    "Tenant",
    "TokenPair",
    "User",
]


@dataclass(frozen=True, slots=True)
class Tenant:
    """A customer organisation; every other identity row belongs to exactly one tenant."""

    id: int
    name: str
    created_at: datetime
    # The rate-limit tier the platform operator put the tenant on (``plan_<plan>`` policy);
    # None: no tier, only the per-user limits apply.
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A person who logs in to one tenant; ``email`` is unique within that tenant."""

    id: int
    tenant_id: int
    email: str
    password_hash: str = field(repr=False)
    role: Role
    created_at: datetime


class RefreshTokenState(enum.Enum):
    """ACTIVE → USED (rotated once) or REVOKED (family revoked); ACTIVE → EXPIRED by time."""

    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a family (the rotation chain started by one login).

    Rotation marks a token USED and issues its successor in the same family. A USED or
    REVOKED token presented again means two parties hold the chain (OAuth 2.0 Security BCP,
    RFC 9700 §4.14.2): the whole family is revoked, the thief's and the victim's tokens alike.
    """

    id: int
    tenant_id: int
    user_id: int
    family_id: int
    token_hash: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> RefreshTokenState:
        if self.revoked_at is not None:
            return RefreshTokenState.REVOKED
        if self.used_at is not None:
            return RefreshTokenState.USED
        if now >= self.expires_at:
            return RefreshTokenState.EXPIRED
        return RefreshTokenState.ACTIVE

    def check_rotatable(self, now: datetime) -> None:
        """Raises:
        RefreshTokenReusedError: the token was used or revoked (revoke its family).
        RefreshTokenInvalidError: the token expired.
        """
        state = self.state(now)
        if state in (RefreshTokenState.USED, RefreshTokenState.REVOKED):
            raise RefreshTokenReusedError(self.family_id)
        if state is RefreshTokenState.EXPIRED:
            raise RefreshTokenInvalidError("expired")

    def successor(
        self, *, token_id: int, token_hash: str, now: datetime, ttl_s: int
    ) -> RefreshToken:
        """The next token of the family, valid ``ttl_s`` from ``now``."""
        return RefreshToken(
            id=token_id,
            tenant_id=self.tenant_id,
            user_id=self.user_id,
            family_id=self.family_id,
            token_hash=token_hash,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A machine credential owned by a user; stored as a hash, found by its prefix."""

    id: int
    tenant_id: int
    user_id: int
    name: str
    prefix: str
    key_hash: str = field(repr=False)
    scopes: frozenset[Permission]
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh returns (RFC 6749 §5.1 shape)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"
