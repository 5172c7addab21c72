"""The identity unit of work and its repositories, as ports (every method is tenant-scoped).

Tenant scoping (ABAC, capabilities §2.5) lives here, next to the data: each method that
touches tenant data takes ``tenant_id`` and filters by it, so a row of another tenant is
simply not found. The two exceptions look a row up by a 256-bit secret (a refresh token's
hash), where holding the secret is the authority and the row then names its tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bazaar.contexts.identity.domain.events import IdentityEvent
from bazaar.contexts.identity.domain.model import ApiKey, RefreshToken, Tenant, User
from bazaar.kernel.domain import UnitOfWork

__all__ = [
    "ApiKeyRepository",
    "IdentityUnitOfWork",
    "RefreshTokenRepository",
    "RevokedTokenRepository",
    "TenantRepository",
    "UserRepository",
]


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None: ...

    async def exists(self, tenant_id: int) -> bool: ...

    async def set_plan(self, tenant_id: int, plan: str | None) -> Tenant | None:
        """Put the tenant on ``plan``; the updated tenant, or None when there is none."""
        ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises:
        EmailTakenError: the tenant already has a user with this email.
        TenantNotFoundError: the tenant does not exist.
        """
        ...

    async def get(self, tenant_id: int, user_id: int) -> User | None: ...

    async def set_password_hash(self, tenant_id: int, user_id: int, password_hash: str) -> None: ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        """The token whose secret hashes to ``token_hash`` (unscoped: the secret is the key)."""
        ...

    async def mark_used(self, tenant_id: int, token_id: int, at: datetime) -> bool:
        """Mark an active token used; False when it was already used or revoked.

        Implementations make this one conditional write, so of concurrent rotations of the
        same token exactly one sees True.
        """
        ...

    async def revoke_family(self, tenant_id: int, family_id: int, at: datetime) -> int:
        """Revoke every unrevoked token of the family; returns how many."""
        ...


class RevokedTokenRepository(Protocol):
    async def add(
        self, tenant_id: int, token_id: str, user_id: int, expires_at: datetime, at: datetime
    ) -> None:
        """Record a revoked access token until it expires; adding it twice is harmless."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Forget revocations of tokens expired before ``now``, in every tenant."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def revoke(
        self, tenant_id: int, api_key_id: int, at: datetime, *, owner_id: int | None
    ) -> bool:
        """Revoke an active key of the tenant (of ``owner_id`` when given); False if none."""
        ...


class IdentityUnitOfWork(UnitOfWork[IdentityEvent], Protocol):
    """One transaction over the identity repositories; rolls back unless committed.

    Handlers append the events they raise to ``events``; the service hands them to its
    listeners once the transaction has committed.
    """

    # Read-only in the protocol, so implementations may narrow them to their own classes.
    @property
    def tenants(self) -> TenantRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def revoked_tokens(self) -> RevokedTokenRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...
