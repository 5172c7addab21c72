"""Reads of the identity context: authentication (the hot path) and user lookups.

Reads go through ``IdentityReadModel``, served by the read engine: authenticating a bearer
token is one signature check (no I/O) and one indexed round trip that reads the user and the
revocation of the token's ``jti`` together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bazaar.contexts.identity.application.ports import TokenCodec
from bazaar.contexts.identity.application.views import UserView
from bazaar.contexts.identity.domain.access import AuthMethod, Permission, Principal, Role
from bazaar.contexts.identity.domain.credentials import parse_api_key_prefix, secret_matches
from bazaar.contexts.identity.domain.errors import (
    ApiKeyInvalidError,
    TokenInvalidError,
    TokenRevokedError,
    UserNotFoundError,
)

__all__ = [
    "ApiKeyRecord",
    "BearerSubject",
    "IdentityReadModel",
    "LoginCandidate",
    "authenticate_api_key",
    "authenticate_bearer",
    "get_user",
]


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    user_id: int
    tenant_id: int
    role: Role
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BearerSubject:
    """The token's user as stored now, and whether the token's ``jti`` was revoked."""

    user: UserView
    token_revoked: bool
    plan: str | None = None  # the tenant's


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    owner: UserView
    key_hash: str = field(repr=False)
    scopes: frozenset[str]
    revoked: bool
    plan: str | None = None  # the owner's tenant's


class IdentityReadModel(Protocol):
    """Read-only queries; implementations may serve them from a replica."""

    async def login_candidate(self, tenant_id: int, email: str) -> LoginCandidate | None: ...

    async def bearer_subject(
        self, tenant_id: int, user_id: int, token_id: str
    ) -> BearerSubject | None: ...

    async def api_key(self, prefix: str) -> ApiKeyRecord | None:
        """The key with this prefix, with its owner (unscoped: the key names its tenant)."""
        ...

    async def user(self, tenant_id: int, user_id: int) -> UserView | None: ...


async def authenticate_bearer(
    token: str, tokens: TokenCodec, reads: IdentityReadModel
) -> Principal:
    """Verify an access token and load its subject.

    Raises:
        TokenInvalidError: the token fails verification or its user no longer exists.
        TokenRevokedError: the token's ``jti`` was revoked (logout).
    """
    claims = tokens.decode(token)
    subject = await reads.bearer_subject(claims.tenant_id, claims.user_id, claims.token_id)
    if subject is None:
        raise TokenInvalidError("unknown_subject")
    if subject.token_revoked:
        raise TokenRevokedError(claims.token_id)
    user = subject.user
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        # The role is read now, not taken from the token: a demotion takes effect at once.
        role=user.role,
        method=AuthMethod.BEARER,
        token_id=claims.token_id,
        token_expires_at=claims.expires_at,
        plan=subject.plan,
    )


async def authenticate_api_key(key: str, reads: IdentityReadModel) -> Principal:
    """Find a key by its prefix and compare the hash of the whole key in constant time.

    Raises:
        ApiKeyInvalidError: malformed, unknown, wrong secret or revoked.
    """
    record = await reads.api_key(parse_api_key_prefix(key))
    if record is None:
        raise ApiKeyInvalidError("unknown")
    if not secret_matches(record.key_hash, key):
        raise ApiKeyInvalidError("mismatch")
    if record.revoked:
        raise ApiKeyInvalidError("revoked")
    known = {p.value for p in Permission}
    return Principal(
        user_id=record.owner.id,
        tenant_id=record.owner.tenant_id,
        email=record.owner.email,
        role=record.owner.role,
        method=AuthMethod.API_KEY,
        scopes=frozenset(Permission(s) for s in record.scopes if s in known),
        api_key_id=record.id,
        plan=record.plan,
    )


async def get_user(tenant_id: int, user_id: int, reads: IdentityReadModel) -> UserView:
    """Raises:
    UserNotFoundError: no such user in this tenant (another tenant's user is not found).
    """
    user = await reads.user(tenant_id, user_id)
    if user is None:
        raise UserNotFoundError(user_id)
    return user
