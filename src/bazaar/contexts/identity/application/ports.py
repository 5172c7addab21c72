"""Ports the identity application needs: password hashing, access tokens, ids, listeners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bazaar.contexts.identity.domain.access import Role
from bazaar.contexts.identity.domain.events import IdentityEvent

__all__ = [
    "AccessClaims",
    "EventListener",
    "IdGenerator",
    "IssuedAccessToken",
    "PasswordHasher",
    "TokenCodec",
]

EventListener = Callable[[IdentityEvent], None]


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class PasswordHasher(Protocol):
    """Slow, salted password hashing; the async methods must not block the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for callers with no user to verify against."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str = field(repr=False)
    token_id: str
    expires_at: int
    expires_in: int


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token (ids already parsed to integers)."""

    user_id: int
    tenant_id: int
    roles: tuple[str, ...]
    token_id: str
    issued_at: int
    expires_at: int


class TokenCodec(Protocol):
    """Signs and verifies access tokens; verification never touches the database."""

    def issue(self, *, user_id: int, tenant_id: int, role: Role) -> IssuedAccessToken: ...

    def decode(self, token: str) -> AccessClaims:
        """Raises:
        TokenInvalidError: any verification failure, with the reason.
        """
        ...

    def jwks(self) -> dict[str, Any]: ...
