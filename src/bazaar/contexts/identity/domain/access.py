"""Who is calling and what they may do: roles, permissions, the principal (RBAC, §2.4)."""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bazaar.contexts.identity.domain.errors import (
    OperatorKeyInvalidError,
    PermissionDeniedError,
    TenantCreationDisabledError,
)

__all__ = [
    "PRIVILEGED_ROLES",
    "ROLE_PERMISSIONS",
    "AuthMethod",
    "Permission",
    "Principal",
    "Role",
    "TenantCreationPolicy",
    "authorize_role_grant",
]


class Role(enum.StrEnum):
    """A user's role inside its tenant."""

    ADMIN = "admin"
    MERCHANT = "merchant"
    CUSTOMER = "customer"


class Permission(enum.StrEnum):
    """What a route may require; also the vocabulary of API-key scopes."""

    TENANT_ADMIN = "tenant:admin"
    USERS_CREATE_PRIVILEGED = "users:create_privileged"
    API_KEYS_MANAGE = "api_keys:manage"
    PRODUCTS_WRITE = "products:write"
    INVENTORY_WRITE = "inventory:write"
    REVIEWS_WRITE = "reviews:write"
    ORDERS_CREATE = "orders:create"
    ORDERS_READ_OWN = "orders:read_own"
    ORDERS_READ_ALL = "orders:read_all"
    PAYMENTS_CREATE = "payments:create"
    PAYMENTS_READ = "payments:read"
    PAYMENTS_REFUND = "payments:refund"
    WALLET_USE = "wallet:use"
    WEBHOOKS_MANAGE = "webhooks:manage"
    LINKS_WRITE = "links:write"
    OPS_ADMIN = "ops:admin"


_CUSTOMER = frozenset(
    {
        Permission.REVIEWS_WRITE,
        Permission.ORDERS_CREATE,
        Permission.ORDERS_READ_OWN,
        Permission.PAYMENTS_CREATE,
        # Their own payments only; the payments API widens reads to the tenant for holders
        # of payments:refund (merchants, admins).
        Permission.PAYMENTS_READ,
        Permission.WALLET_USE,
        Permission.LINKS_WRITE,
    }
)
_MERCHANT = frozenset(
    {
        Permission.API_KEYS_MANAGE,
        Permission.PRODUCTS_WRITE,
        Permission.INVENTORY_WRITE,
        Permission.ORDERS_READ_OWN,
        Permission.ORDERS_READ_ALL,
        Permission.PAYMENTS_CREATE,
        Permission.PAYMENTS_READ,
        Permission.PAYMENTS_REFUND,
        Permission.WEBHOOKS_MANAGE,
        Permission.LINKS_WRITE,
    }
)

# The one place a role gains a permission; routes ask for permissions, never for roles.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.MERCHANT: _MERCHANT,
        Role.CUSTOMER: _CUSTOMER,
    }
)

PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.MERCHANT})


class AuthMethod(enum.Enum):
    BEARER = "bearer"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (value object), read from the database in this request.

    A bearer principal has its role's permissions; an API-key principal has the intersection
    of its owner's role permissions and the key's scopes, so demoting the owner narrows
    every key the owner made.
    """

    user_id: int
    tenant_id: int
    email: str
    role: Role
    method: AuthMethod
    scopes: frozenset[Permission] | None = None
    token_id: str | None = field(default=None, repr=False)
    token_expires_at: int | None = None
    api_key_id: int | None = None
    # The tenant's rate-limit plan, read with the principal (``Tenant.plan``).
    plan: str | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = ROLE_PERMISSIONS[self.role]
        return granted if self.scopes is None else granted & self.scopes

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raises:
        PermissionDeniedError: the principal lacks ``permission``.
        """
        if not self.can(permission):
            raise PermissionDeniedError(permission.value)


def authorize_role_grant(actor: Principal | None, tenant_id: int, role: Role) -> None:
    """Anyone may create a customer; only an admin of the same tenant a merchant or admin.

    Raises:
        PermissionDeniedError: the actor may not create a user with ``role`` in ``tenant_id``.
    """
    if role not in PRIVILEGED_ROLES:
        return
    if (
        actor is None
        or actor.tenant_id != tenant_id
        or not actor.can(Permission.USERS_CREATE_PRIVILEGED)
    ):
        raise PermissionDeniedError(Permission.USERS_CREATE_PRIVILEGED.value)


@dataclass(frozen=True, slots=True)
class TenantCreationPolicy:
    """Who may create tenants: anyone in demo mode, otherwise holders of the operator key."""

    open: bool
    operator_key: str | None = field(default=None, repr=False)

    def check(self, presented: str | None) -> None:
        """Raises:
        TenantCreationDisabledError: not open and no operator key configured.
        OperatorKeyInvalidError: the presented key is missing or wrong.
        """
        if self.open:
            return
        if not self.operator_key:
            raise TenantCreationDisabledError()
        if presented is None:
            raise OperatorKeyInvalidError(missing=True)
        # Constant time: the comparison must not reveal how long a prefix was right.
        if not hmac.compare_digest(presented.encode(), self.operator_key.encode()):
            raise OperatorKeyInvalidError(missing=False)
