"""Login throttling over HTTP (capabilities §2.6): 5 failures per account per 15 min, and per IP."""

from __future__ import annotations

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import RedisRateLimitStore
from bazaar.testing.app import AppHarness
from bazaar.testing.identity import PASSWORD, AppFactory, IdentityApi, Tenant, assert_problem

WRONG = "not the password at all"


async def login_from(
    harness: AppHarness, tenant: Tenant, email: str, password: str, address: str
) -> int:
    response = await harness.client.post(
        "/api/v1/auth/login",
        json={"tenant_id": tenant.id, "email": email, "password": password},
        headers={"x-forwarded-for": address},
    )
    return response.status_code


async def tenant_with_users(api: IdentityApi, *emails: str) -> Tenant:
    tenant = await api.create_tenant()
    for email in emails:
        assert (await api.register(tenant.id, email)).status_code == 201
    return tenant


class TestPerAccount:
    async def test_the_sixth_attempt_is_refused_even_with_the_right_password(
        self, open_app: AppFactory, clock: ManualClock
    ) -> None:
        async with open_app() as harness:
            api = IdentityApi(harness.client)
            tenant = await tenant_with_users(api, "carol@acme.test")
            for _ in range(5):
                response = await api.login(tenant.id, "carol@acme.test", WRONG)
                assert_problem(response, 401, "unauthenticated")
            locked = await api.login(tenant.id, "carol@acme.test", PASSWORD)
            assert_problem(locked, 429, "rate-limited")
            retry_after = int(locked.headers["retry-after"])
            assert 1 <= retry_after <= 900
            assert locked.headers["x-ratelimit-remaining"] == "0"
            assert '"login";q=5;w=900' in locked.headers["ratelimit-policy"]

            clock.advance(retry_after)
            assert (await api.login(tenant.id, "carol@acme.test", PASSWORD)).status_code == 200

    async def test_a_success_resets_the_accounts_failures(self, open_app: AppFactory) -> None:
        # Each attempt comes through a trusted proxy from its own address: only the account
        # counter is in play.
        async with open_app(trusted_proxies=["127.0.0.1"]) as harness:
            api = IdentityApi(harness.client)
            tenant = await tenant_with_users(api, "dave@acme.test")
            addresses = (f"198.51.100.{n}" for n in range(20))
            for _round in range(2):
                for _ in range(4):
                    status = await login_from(
                        harness, tenant, "dave@acme.test", WRONG, next(addresses)
                    )
                    assert status == 401
                status = await login_from(
                    harness, tenant, "dave@acme.test", PASSWORD, next(addresses)
                )
                assert status == 200

    async def test_email_case_does_not_buy_more_attempts(self, open_app: AppFactory) -> None:
        async with open_app(trusted_proxies=["127.0.0.1"]) as harness:
            api = IdentityApi(harness.client)
            tenant = await tenant_with_users(api, "erin@acme.test")
            for n, email in enumerate(["erin@acme.test", "ERIN@acme.test", "Erin@Acme.test"] * 2):
                response = await harness.client.post(
                    "/api/v1/auth/login",
                    json={"tenant_id": tenant.id, "email": email, "password": WRONG},
                    headers={"x-forwarded-for": f"198.51.100.{n}"},
                )
                assert response.status_code == (429 if n == 5 else 401), (n, response.text)


class TestPerAddress:
    async def test_failures_across_accounts_lock_the_address(self, open_app: AppFactory) -> None:
        async with open_app() as harness:
            api = IdentityApi(harness.client)
            emails = [f"user{n}@acme.test" for n in range(6)]
            tenant = await tenant_with_users(api, *emails)
            for email in emails[:5]:
                assert (await api.login(tenant.id, email, WRONG)).status_code == 401
            refused = await api.login(tenant.id, emails[5], PASSWORD)
            assert_problem(refused, 429, "rate-limited")

    async def test_successful_logins_from_one_address_never_lock_it(
        self, open_app: AppFactory
    ) -> None:
        async with open_app() as harness:
            api = IdentityApi(harness.client)
            tenant = await tenant_with_users(api, "frank@acme.test")
            for _ in range(8):
                assert (await api.login(tenant.id, "frank@acme.test")).status_code == 200


class TestStoreDown:
    async def test_login_fails_closed_with_503_never_500(
        self, open_app: AppFactory, dead_redis_store: RedisRateLimitStore
    ) -> None:
        async with open_app(rate_limit_store=dead_redis_store) as harness:
            api = IdentityApi(harness.client)
            tenant_response = await harness.client.post(
                "/api/v1/tenants",
                json={"name": "Acme", "admin_email": "a@acme.test", "admin_password": PASSWORD},
            )
            assert tenant_response.status_code == 201
            response = await api.login(tenant_response.json()["id"], "a@acme.test")
            assert_problem(response, 503, "dependency-unavailable")
            assert response.headers["retry-after"] == "1"
            value = harness.container.metrics.registry.get_sample_value(
                "bazaar_ratelimit_decisions_total", {"policy": "login", "result": "failed_closed"}
            )
            assert value == 1

    async def test_the_policy_can_be_switched_off(self, open_app: AppFactory) -> None:
        async with open_app(rate_limits={"login": "off"}) as harness:
            api = IdentityApi(harness.client)
            tenant = await tenant_with_users(api, "gina@acme.test")
            for _ in range(7):
                assert (await api.login(tenant.id, "gina@acme.test", WRONG)).status_code == 401
