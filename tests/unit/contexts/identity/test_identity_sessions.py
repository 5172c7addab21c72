"""Handlers on the in-memory store: sessions, refresh-token families, API keys, events."""

from __future__ import annotations

import pytest

from bazaar.contexts.identity import (
    ApiKeyInvalidError,
    ApiKeyNotFoundError,
    EmailTakenError,
    IdentityService,
    InvalidCredentialsError,
    InvalidScopeError,
    Permission,
    PermissionDeniedError,
    Principal,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    Role,
    ScopeNotGrantedError,
    TenantNotFoundError,
    TokenRevokedError,
)
from bazaar.contexts.identity.adapters import InMemoryIdentityStore
from bazaar.contexts.identity.application.service import HANDLERS
from bazaar.contexts.identity.domain import commands
from bazaar.contexts.identity.domain.events import (
    IdentityEvent,
    RefreshTokenReuseDetected,
    TenantCreated,
    UserLoggedIn,
    UserLoggedOut,
)
from bazaar.contexts.identity.domain.model import RefreshTokenState
from bazaar.kernel.clock import ManualClock

PASSWORD = "correct horse battery staple"
REFRESH_TTL_S = 7 * 86_400


async def tenant_with_customer(service: IdentityService) -> tuple[int, int]:
    tenant = await service.create_tenant(
        name="Acme", admin_email="admin@acme.test", admin_password=PASSWORD, operator_key=None
    )
    user = await service.register(tenant_id=tenant.id, email="c@acme.test", password=PASSWORD)
    return tenant.id, user.id


async def admin_of(service: IdentityService, tenant_id: int) -> Principal:
    pair = await service.login(tenant_id=tenant_id, email="admin@acme.test", password=PASSWORD)
    return await service.authenticate_bearer(pair.access_token)


class TestHandlerRegistry:
    def test_every_command_has_a_handler(self) -> None:
        # By name: a slots dataclass replaces its class, leaving the original in __subclasses__.
        declared = {cls.__name__ for cls in commands.Command.__subclasses__()}
        assert {cls.__name__ for cls in HANDLERS} == declared
        assert all(cls in HANDLERS for cls in (getattr(commands, n) for n in declared))

    async def test_dispatch_runs_a_command_through_its_handler(
        self, service: IdentityService, published: list[IdentityEvent]
    ) -> None:
        command = commands.CreateTenant(
            name="Acme", admin_email="a@acme.test", admin_password=PASSWORD
        )
        view = await service.dispatch(command)
        assert isinstance(published[-1], TenantCreated)
        assert published[-1].tenant_id == getattr(view, "id", None)

    def test_commands_never_show_secrets_in_their_repr(self) -> None:
        command = commands.Login(tenant_id=1, email="a@acme.test", password=PASSWORD)
        assert PASSWORD not in repr(command)


class TestRegistrationAndLogin:
    async def test_login_returns_a_pair_for_the_right_password(
        self, service: IdentityService
    ) -> None:
        tenant_id, user_id = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="C@ACME.test ", password=PASSWORD)
        principal = await service.authenticate_bearer(pair.access_token)
        assert (principal.user_id, principal.role) == (user_id, Role.CUSTOMER)
        assert pair.refresh_token.startswith("rt_")

    @pytest.mark.parametrize(
        ("email", "password", "other_tenant"),
        [
            ("c@acme.test", PASSWORD + "!", False),
            ("nobody@acme.test", PASSWORD, False),
            ("not an email", PASSWORD, False),
            ("c@acme.test", PASSWORD, True),
        ],
    )
    async def test_every_login_failure_is_the_same_error(
        self, service: IdentityService, email: str, password: str, other_tenant: bool
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        if other_tenant:
            other = await service.create_tenant(
                name="Other", admin_email="o@o.test", admin_password=PASSWORD, operator_key=None
            )
            tenant_id = other.id
        with pytest.raises(InvalidCredentialsError) as caught:
            await service.login(tenant_id=tenant_id, email=email, password=password)
        assert str(caught.value) == "invalid credentials"

    async def test_duplicate_email_in_a_tenant_is_taken(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        with pytest.raises(EmailTakenError):
            await service.register(tenant_id=tenant_id, email="C@acme.test", password=PASSWORD)

    async def test_unknown_tenant_is_reported(self, service: IdentityService) -> None:
        with pytest.raises(TenantNotFoundError):
            await service.register(tenant_id=123, email="x@y.test", password=PASSWORD)

    async def test_customer_cannot_create_an_admin(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        customer = await service.authenticate_bearer(pair.access_token)
        with pytest.raises(PermissionDeniedError):
            await service.register(
                tenant_id=tenant_id,
                email="x@acme.test",
                password=PASSWORD,
                role=Role.ADMIN,
                actor=customer,
            )

    async def test_admin_creates_a_merchant(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        merchant = await service.register(
            tenant_id=tenant_id,
            email="m@acme.test",
            password=PASSWORD,
            role=Role.MERCHANT,
            actor=await admin_of(service, tenant_id),
        )
        assert merchant.role is Role.MERCHANT

    async def test_events_are_published_after_commit(
        self, service: IdentityService, published: list[IdentityEvent]
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        kinds = [type(e) for e in published]
        assert kinds[0] is TenantCreated
        assert kinds[-1] is UserLoggedIn

    async def test_a_failed_write_publishes_nothing_and_stores_nothing(
        self, service: IdentityService, store: InMemoryIdentityStore, published: list[IdentityEvent]
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        users, commits, events = len(store.users), store.commits, len(published)
        with pytest.raises(EmailTakenError):
            await service.register(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        assert (len(store.users), store.commits, len(published)) == (users, commits, events)


class TestRefreshTokenFamilies:
    async def test_refresh_rotates_and_marks_the_old_token_used(
        self, service: IdentityService, store: InMemoryIdentityStore, clock: ManualClock
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        first = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        second = await service.refresh(first.refresh_token)
        assert second.refresh_token != first.refresh_token
        states = sorted(t.state(clock.utcnow()).value for t in store.refresh_tokens.values())
        assert states == ["active", "used"]
        assert len({t.family_id for t in store.refresh_tokens.values()}) == 1

    async def test_reusing_a_rotated_token_revokes_the_whole_family(
        self,
        service: IdentityService,
        store: InMemoryIdentityStore,
        clock: ManualClock,
        published: list[IdentityEvent],
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        first = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        second = await service.refresh(first.refresh_token)
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(first.refresh_token)
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(second.refresh_token)
        now = clock.utcnow()
        assert {t.state(now) for t in store.refresh_tokens.values()} == {RefreshTokenState.REVOKED}
        assert any(isinstance(e, RefreshTokenReuseDetected) for e in published)

    async def test_other_families_survive_a_reuse(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        phone = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        laptop = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        await service.refresh(phone.refresh_token)
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(phone.refresh_token)
        assert (await service.refresh(laptop.refresh_token)).refresh_token

    async def test_expired_refresh_token_is_invalid_without_revoking(
        self, service: IdentityService, clock: ManualClock
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        clock.advance(REFRESH_TTL_S)
        with pytest.raises(RefreshTokenInvalidError) as caught:
            await service.refresh(pair.refresh_token)
        assert not isinstance(caught.value, RefreshTokenReusedError)
        assert caught.value.reason == "expired"

    @pytest.mark.parametrize("token", ["", "rt_unknown", "rt_" + "A" * 43])
    async def test_unknown_or_malformed_tokens_are_invalid(
        self, service: IdentityService, token: str
    ) -> None:
        with pytest.raises(RefreshTokenInvalidError):
            await service.refresh(token)


class TestLogout:
    async def test_logout_revokes_the_access_token_and_the_family(
        self, service: IdentityService, published: list[IdentityEvent]
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        principal = await service.authenticate_bearer(pair.access_token)
        await service.logout(principal, pair.refresh_token)
        with pytest.raises(TokenRevokedError):
            await service.authenticate_bearer(pair.access_token)
        with pytest.raises(RefreshTokenReusedError):
            await service.refresh(pair.refresh_token)
        logged_out = [e for e in published if isinstance(e, UserLoggedOut)]
        assert len(logged_out) == 1
        assert logged_out[0].family_id is not None

    async def test_logout_leaves_another_users_family_alone(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        victim = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        admin = await admin_of(service, tenant_id)
        await service.logout(admin, victim.refresh_token)
        assert (await service.refresh(victim.refresh_token)).access_token

    async def test_revocations_are_purged_once_expired(
        self, service: IdentityService, store: InMemoryIdentityStore, clock: ManualClock
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        await service.logout(await service.authenticate_bearer(pair.access_token), "rt_x")
        assert len(store.revoked_tokens) == 1
        clock.advance(901)
        again = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        await service.logout(await service.authenticate_bearer(again.access_token), "rt_x")
        assert len(store.revoked_tokens) == 1


class TestApiKeys:
    async def test_key_authenticates_as_its_owner_with_its_scopes(
        self, service: IdentityService
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        admin = await admin_of(service, tenant_id)
        issued = await service.create_api_key(admin, name="ci", scopes=["products:write"])
        principal = await service.authenticate_api_key(issued.key)
        assert principal.user_id == admin.user_id
        assert principal.permissions == {Permission.PRODUCTS_WRITE}

    async def test_revoked_key_no_longer_authenticates(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        admin = await admin_of(service, tenant_id)
        issued = await service.create_api_key(admin, name="ci", scopes=[])
        await service.revoke_api_key(admin, issued.id)
        with pytest.raises(ApiKeyInvalidError):
            await service.authenticate_api_key(issued.key)
        with pytest.raises(ApiKeyNotFoundError):
            await service.revoke_api_key(admin, issued.id)

    async def test_wrong_secret_with_a_known_prefix_is_refused(
        self, service: IdentityService
    ) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        issued = await service.create_api_key(
            await admin_of(service, tenant_id), name="ci", scopes=[]
        )
        forged = issued.key[:-4] + ("AAAA" if not issued.key.endswith("AAAA") else "BBBB")
        with pytest.raises(ApiKeyInvalidError):
            await service.authenticate_api_key(forged)

    async def test_customers_cannot_create_keys(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        pair = await service.login(tenant_id=tenant_id, email="c@acme.test", password=PASSWORD)
        customer = await service.authenticate_bearer(pair.access_token)
        with pytest.raises(PermissionDeniedError):
            await service.create_api_key(customer, name="x", scopes=[])

    async def test_unknown_and_ungranted_scopes_are_refused(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        admin = await admin_of(service, tenant_id)
        merchant_view = await service.register(
            tenant_id=tenant_id,
            email="m@acme.test",
            password=PASSWORD,
            role=Role.MERCHANT,
            actor=admin,
        )
        pair = await service.login(tenant_id=tenant_id, email="m@acme.test", password=PASSWORD)
        merchant = await service.authenticate_bearer(pair.access_token)
        assert merchant.user_id == merchant_view.id
        with pytest.raises(InvalidScopeError):
            await service.create_api_key(merchant, name="x", scopes=["root"])
        with pytest.raises(ScopeNotGrantedError):
            await service.create_api_key(merchant, name="x", scopes=["tenant:admin"])

    async def test_only_the_owner_or_an_admin_revokes(self, service: IdentityService) -> None:
        tenant_id, _ = await tenant_with_customer(service)
        admin = await admin_of(service, tenant_id)
        for email in ("m1@acme.test", "m2@acme.test"):
            await service.register(
                tenant_id=tenant_id,
                email=email,
                password=PASSWORD,
                role=Role.MERCHANT,
                actor=admin,
            )
        m1 = await service.authenticate_bearer(
            (
                await service.login(tenant_id=tenant_id, email="m1@acme.test", password=PASSWORD)
            ).access_token
        )
        m2 = await service.authenticate_bearer(
            (
                await service.login(tenant_id=tenant_id, email="m2@acme.test", password=PASSWORD)
            ).access_token
        )
        issued = await service.create_api_key(m1, name="m1", scopes=[])
        with pytest.raises(ApiKeyNotFoundError):
            await service.revoke_api_key(m2, issued.id)
        await service.revoke_api_key(admin, issued.id)
