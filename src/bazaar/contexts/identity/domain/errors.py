"""Errors of the identity context.

BazaarError
└── IdentityError
    ├── AuthenticationError                 the caller did not prove who it is (401)
    │   ├── InvalidCredentialsError         login failed; never says which part was wrong
    │   ├── TokenInvalidError(reason)       an access token failed verification
    │   │   └── TokenRevokedError(token_id) ...its jti was revoked (logout)
    │   ├── RefreshTokenInvalidError(reason)          unknown, malformed or expired
    │   │   └── RefreshTokenReusedError(family_id)    used or revoked: family revoked
    │   ├── ApiKeyInvalidError              unknown, malformed or revoked API key
    │   └── OperatorKeyInvalidError(missing)          X-Operator-Key missing or wrong
    ├── AuthorizationError                  the caller is known but not allowed (403)
    │   ├── PermissionDeniedError(permission)
    │   ├── ScopeNotGrantedError(scope)     an API key asked for more than its creator has
    │   └── TenantCreationDisabledError     no operator key configured outside demo mode
    ├── InvalidInputError(field)            a value breaks a domain rule (422)
    │   ├── InvalidEmailError(email)
    │   ├── PasswordPolicyError(reason)
    │   ├── InvalidNameError(field)
    │   ├── InvalidPlanError(plan)
    │   └── InvalidScopeError(scope)
    ├── TenantNotFoundError(tenant_id)
    ├── UserNotFoundError(user_id)
    ├── ApiKeyNotFoundError(api_key_id)
    └── EmailTakenError(email)              the tenant already has a user with that email
"""

from __future__ import annotations

from bazaar.kernel.errors import BazaarError

__all__ = [
    "ApiKeyInvalidError",
    "ApiKeyNotFoundError",
    "AuthenticationError",
    "AuthorizationError",
    "EmailTakenError",
    "IdentityError",
    "InvalidCredentialsError",
    "InvalidEmailError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidPlanError",
    "InvalidScopeError",
    "OperatorKeyInvalidError",
    "PasswordPolicyError",
    "PermissionDeniedError",
    "RefreshTokenInvalidError",
    "RefreshTokenReusedError",
    "ScopeNotGrantedError",
    "TenantCreationDisabledError",
    "TenantNotFoundError",
    "TokenInvalidError",
    "TokenRevokedError",
    "UserNotFoundError",
]


class IdentityError(BazaarError):
    """Raised by the identity context on purpose."""


class AuthenticationError(IdentityError):
    """The presented credentials do not identify a caller."""


class InvalidCredentialsError(AuthenticationError):
    """Login failed: unknown email, wrong password or another tenant, deliberately alike."""

    def __init__(self) -> None:
        super().__init__("invalid credentials")


class TokenInvalidError(AuthenticationError):
    """An access token failed verification; ``reason`` is for logs, not for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"access token rejected: {reason}")
        self.reason = reason


class TokenRevokedError(TokenInvalidError):
    def __init__(self, token_id: str) -> None:
        super().__init__("revoked")
        self.token_id = token_id


class RefreshTokenInvalidError(AuthenticationError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"refresh token rejected: {reason}")
        self.reason = reason


class RefreshTokenReusedError(RefreshTokenInvalidError):
    """A rotated or revoked refresh token came back: its whole family has been revoked."""

    def __init__(self, family_id: int) -> None:
        super().__init__("reused")
        self.family_id = family_id


class ApiKeyInvalidError(AuthenticationError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"api key rejected: {reason}")
        self.reason = reason


class OperatorKeyInvalidError(AuthenticationError):
    def __init__(self, *, missing: bool) -> None:
        super().__init__("operator key missing" if missing else "operator key invalid")
        self.missing = missing


class AuthorizationError(IdentityError):
    """The caller is authenticated but may not do this."""


class PermissionDeniedError(AuthorizationError):
    def __init__(self, permission: str) -> None:
        super().__init__(f"permission {permission!r} required")
        self.permission = permission


class ScopeNotGrantedError(AuthorizationError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"scope {scope!r} exceeds the caller's own permissions")
        self.scope = scope


class TenantCreationDisabledError(AuthorizationError):
    def __init__(self) -> None:
        super().__init__("tenant creation needs an operator key, and none is configured")


class InvalidInputError(IdentityError):
    """A value breaks a domain rule; ``field`` names the input it came from."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidEmailError(InvalidInputError):
    def __init__(self, email: str) -> None:
        super().__init__("email", "value is not a valid email address")
        self.email = email


class PasswordPolicyError(InvalidInputError):
    def __init__(self, reason: str) -> None:
        super().__init__("password", reason)
        self.reason = reason


class InvalidNameError(InvalidInputError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)


class InvalidPlanError(InvalidInputError):
    def __init__(self, plan: str) -> None:
        super().__init__(
            "plan", "must be 1-32 lower-case letters, digits or '_', starting with a letter"
        )
        self.plan = plan


class InvalidScopeError(InvalidInputError):
    def __init__(self, scope: str) -> None:
        super().__init__("scopes", f"unknown scope {scope!r}")
        self.scope = scope


class TenantNotFoundError(IdentityError):
    def __init__(self, tenant_id: int) -> None:
        super().__init__(f"no tenant {tenant_id}")
        self.tenant_id = tenant_id


class UserNotFoundError(IdentityError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"no user {user_id}")
        self.user_id = user_id


class ApiKeyNotFoundError(IdentityError):
    def __init__(self, api_key_id: int) -> None:
        super().__init__(f"no active api key {api_key_id}")
        self.api_key_id = api_key_id


class EmailTakenError(IdentityError):
    def __init__(self, email: str) -> None:
        super().__init__("a user with this email already exists in the tenant")
        self.email = email
