"""RBAC rules: the role → permission map, principals, role grants, the tenant-creation gate."""

from __future__ import annotations

import pytest

import bazaar.contexts.identity as identity
from bazaar.contexts.identity import (
    ROLE_PERMISSIONS,
    AuthMethod,
    OperatorKeyInvalidError,
    Permission,
    PermissionDeniedError,
    Principal,
    Role,
    TenantCreationDisabledError,
    TenantCreationPolicy,
)
from bazaar.contexts.identity.domain.access import authorize_role_grant


def principal(
    role: Role, *, tenant_id: int = 1, scopes: frozenset[Permission] | None = None
) -> Principal:
    return Principal(
        user_id=10,
        tenant_id=tenant_id,
        email="someone@example.com",
        role=role,
        method=AuthMethod.BEARER if scopes is None else AuthMethod.API_KEY,
        scopes=scopes,
    )


class TestRolePermissions:
    def test_every_role_has_an_entry(self) -> None:
        assert set(ROLE_PERMISSIONS) == set(Role)

    def test_admin_holds_every_permission(self) -> None:
        assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)

    def test_merchant_manages_catalog_and_keys_but_not_the_tenant(self) -> None:
        merchant = ROLE_PERMISSIONS[Role.MERCHANT]
        assert {Permission.PRODUCTS_WRITE, Permission.API_KEYS_MANAGE} <= merchant
        assert Permission.TENANT_ADMIN not in merchant
        assert Permission.USERS_CREATE_PRIVILEGED not in merchant

    def test_customer_may_order_but_not_manage_keys_or_products(self) -> None:
        customer = ROLE_PERMISSIONS[Role.CUSTOMER]
        assert Permission.ORDERS_CREATE in customer
        assert Permission.API_KEYS_MANAGE not in customer
        assert Permission.PRODUCTS_WRITE not in customer
        assert Permission.ORDERS_READ_ALL not in customer

    def test_only_admins_create_privileged_users(self) -> None:
        holders = {
            r
            for r, perms in ROLE_PERMISSIONS.items()
            if Permission.USERS_CREATE_PRIVILEGED in perms
        }
        assert holders == {Role.ADMIN}

    def test_permission_values_are_resource_colon_action(self) -> None:
        for permission in Permission:
            resource, _, action = permission.value.partition(":")
            assert resource, permission
            assert action, permission


class TestPrincipal:
    def test_bearer_principal_has_its_roles_permissions(self) -> None:
        assert principal(Role.MERCHANT).permissions == ROLE_PERMISSIONS[Role.MERCHANT]

    def test_api_key_scopes_narrow_the_owners_permissions(self) -> None:
        scoped = principal(Role.ADMIN, scopes=frozenset({Permission.PRODUCTS_WRITE}))
        assert scoped.permissions == {Permission.PRODUCTS_WRITE}
        assert not scoped.can(Permission.TENANT_ADMIN)

    def test_scopes_beyond_the_role_grant_nothing(self) -> None:
        scoped = principal(Role.CUSTOMER, scopes=frozenset({Permission.TENANT_ADMIN}))
        assert scoped.permissions == frozenset()

    def test_require_raises_with_the_missing_permission(self) -> None:
        with pytest.raises(PermissionDeniedError) as caught:
            principal(Role.CUSTOMER).require(Permission.API_KEYS_MANAGE)
        assert caught.value.permission == "api_keys:manage"

    def test_repr_hides_the_token_id(self) -> None:
        p = Principal(1, 2, "a@b.co", Role.ADMIN, AuthMethod.BEARER, token_id="secret-jti")
        assert "secret-jti" not in repr(p)


class TestAuthorizeRoleGrant:
    def test_anyone_may_create_a_customer(self) -> None:
        authorize_role_grant(None, 1, Role.CUSTOMER)

    @pytest.mark.parametrize("role", [Role.MERCHANT, Role.ADMIN])
    def test_anonymous_may_not_create_privileged_roles(self, role: Role) -> None:
        with pytest.raises(PermissionDeniedError):
            authorize_role_grant(None, 1, role)

    def test_customer_may_not_create_an_admin(self) -> None:
        with pytest.raises(PermissionDeniedError):
            authorize_role_grant(principal(Role.CUSTOMER), 1, Role.ADMIN)

    def test_admin_may_create_a_merchant_in_its_tenant(self) -> None:
        authorize_role_grant(principal(Role.ADMIN, tenant_id=1), 1, Role.MERCHANT)

    def test_admin_may_not_create_a_merchant_in_another_tenant(self) -> None:
        with pytest.raises(PermissionDeniedError):
            authorize_role_grant(principal(Role.ADMIN, tenant_id=1), 2, Role.MERCHANT)


class TestTenantCreationPolicy:
    def test_open_policy_needs_no_key(self) -> None:
        TenantCreationPolicy(open=True).check(None)

    def test_without_a_configured_key_creation_is_disabled(self) -> None:
        with pytest.raises(TenantCreationDisabledError):
            TenantCreationPolicy(open=False).check("anything")

    def test_missing_key_is_reported_as_missing(self) -> None:
        with pytest.raises(OperatorKeyInvalidError) as caught:
            TenantCreationPolicy(open=False, operator_key="k" * 32).check(None)
        assert caught.value.missing

    def test_wrong_key_is_refused(self) -> None:
        with pytest.raises(OperatorKeyInvalidError) as caught:
            TenantCreationPolicy(open=False, operator_key="k" * 32).check("k" * 31 + "x")
        assert not caught.value.missing

    def test_right_key_passes(self) -> None:
        TenantCreationPolicy(open=False, operator_key="k" * 32).check("k" * 32)

    def test_repr_hides_the_operator_key(self) -> None:
        assert "kkkk" not in repr(TenantCreationPolicy(open=False, operator_key="k" * 32))


class TestFacade:
    def test_all_names_every_public_name_and_only_existing_ones(self) -> None:
        public = {n for n in vars(identity) if not n.startswith("_") and n[0].isupper()}
        public |= {n for n in vars(identity) if n.isupper() and not n.startswith("_")}
        assert set(identity.__all__) == public
        assert all(hasattr(identity, name) for name in identity.__all__)
