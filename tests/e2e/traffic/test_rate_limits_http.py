"""Rate-limit policies over HTTP (capabilities §3.3; api.md "Conventions")."""

from __future__ import annotations

import math

from bazaar.kernel.clock import ManualClock
from bazaar.kernel.ratelimit import RedisRateLimitStore
from bazaar.testing.app import AppHarness
from bazaar.testing.identity import AppFactory, IdentityApi, assert_problem, bearer

TEN_PER_MINUTE = {"rate_limits": {"default": "token_bucket:10/60"}}


def decisions(app: AppHarness, policy: str, result: str) -> float:
    value = app.container.metrics.registry.get_sample_value(
        "bazaar_ratelimit_decisions_total", {"policy": policy, "result": result}
    )
    return value or 0.0


async def two_users(app: AppHarness) -> tuple[str, str]:
    """Two customers who have made no authenticated request yet (logins count by address)."""
    api = IdentityApi(app.client)
    tenant = await api.create_tenant()
    bob = await api.user_token(tenant.id, "bob@acme.test", "customer", tenant.admin_token)
    carol = await api.user_token(tenant.id, "carol@acme.test", "customer", tenant.admin_token)
    return bob, carol


class TestDefaultPolicy:
    async def test_the_eleventh_quick_request_of_a_user_is_refused(
        self, open_app: AppFactory, clock: ManualClock
    ) -> None:
        async with open_app(**TEN_PER_MINUTE) as app:
            alice, bob = await two_users(app)
            remaining: list[int] = []
            for _ in range(10):
                response = await app.client.get("/api/v1/me", headers=bearer(alice))
                assert response.status_code == 200, response.text
                assert response.headers["x-ratelimit-limit"] == "10"
                remaining.append(int(response.headers["x-ratelimit-remaining"]))
            assert remaining == list(range(9, -1, -1))

            refused = await app.client.get("/api/v1/me", headers=bearer(alice))
            body = assert_problem(refused, 429, "rate-limited")
            assert "default" in body["detail"]
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["x-ratelimit-remaining"] == "0"
            assert int(refused.headers["x-ratelimit-reset"]) >= math.floor(clock.now())
            assert refused.headers["ratelimit-policy"] == '"default";q=10;w=60'
            assert refused.headers["ratelimit"].startswith('"default";r=0;t=')

            other = await app.client.get("/api/v1/me", headers=bearer(bob))
            assert other.status_code == 200
            assert other.headers["x-ratelimit-remaining"] == "9"
            assert decisions(app, "default", "limited") == 1

    async def test_the_bucket_refills_with_time(
        self, open_app: AppFactory, clock: ManualClock
    ) -> None:
        async with open_app(rate_limits={"default": "token_bucket:5/60"}) as app:
            alice, _ = await two_users(app)
            for _ in range(5):
                assert (await app.client.get("/api/v1/me", headers=bearer(alice))).is_success
            refused = await app.client.get("/api/v1/me", headers=bearer(alice))
            assert refused.status_code == 429
            clock.advance(int(refused.headers["retry-after"]))
            assert (await app.client.get("/api/v1/me", headers=bearer(alice))).is_success

    async def test_a_leaky_bucket_policy_queues_requests_at_its_drain_rate(
        self, open_app: AppFactory, clock: ManualClock
    ) -> None:
        async with open_app(rate_limits={"default": "leaky_bucket:3/3"}) as app:
            clock.sleeps.clear()
            statuses = [
                (await app.client.get("/api/v1/products?tenant_id=1")).status_code for _ in range(2)
            ]
            assert 429 not in statuses
            # Back to back, the second request waited one drain interval (3 s / 3) in the
            # queue: the app saw them a second apart.
            assert [round(s, 6) for s in clock.sleeps if s > 0] == [1.0]

    async def test_anonymous_callers_are_counted_by_address(self, open_app: AppFactory) -> None:
        async with open_app(rate_limits={"default": "fixed_window:3/60"}) as app:
            statuses = [
                (await app.client.get("/api/v1/products?tenant_id=1")).status_code for _ in range(4)
            ]
            assert statuses[-1] == 429
            assert 429 not in statuses[:3]

    async def test_a_bad_token_buys_no_fresh_bucket(self, open_app: AppFactory) -> None:
        async with open_app(rate_limits={"default": "fixed_window:3/60"}) as app:
            statuses = [
                (await app.client.get("/api/v1/me", headers=bearer(f"not-a-token-{n}"))).status_code
                for n in range(4)
            ]
            assert statuses == [401, 401, 401, 429]

    async def test_routes_outside_the_api_are_not_limited(self, open_app: AppFactory) -> None:
        async with open_app(rate_limits={"default": "fixed_window:1/60"}) as app:
            for _ in range(3):
                response = await app.client.get("/healthz")
                assert response.status_code == 200
                assert "x-ratelimit-limit" not in response.headers

    async def test_a_policy_switched_off_sends_no_headers(self, open_app: AppFactory) -> None:
        async with open_app(rate_limits={"default": "off"}) as app:
            response = await app.client.get("/api/v1/products?tenant_id=1")
            # Answered by the route (no caller), not cut short by the middleware.
            assert response.status_code == 401, response.text
            assert "x-ratelimit-limit" not in response.headers


class TestPaymentsPolicy:
    async def test_payment_writes_are_charged_to_both_policies(self, open_app: AppFactory) -> None:
        limits = {"default": "token_bucket:100/60", "payments": "fixed_window:1/60"}
        async with open_app(rate_limits=limits) as app:
            alice, _ = await two_users(app)
            first = await app.client.post(
                "/api/v1/payments", json={}, headers=bearer(alice) | {"idempotency-key": "k1"}
            )
            assert first.status_code != 429
            assert '"payments";q=1;w=60' in first.headers["ratelimit-policy"]
            assert '"default";q=100;w=60' in first.headers["ratelimit-policy"]
            # The tightest policy is the one a client must pace itself by.
            assert first.headers["x-ratelimit-limit"] == "1"
            second = await app.client.post(
                "/api/v1/payments", json={}, headers=bearer(alice) | {"idempotency-key": "k2"}
            )
            body = assert_problem(second, 429, "rate-limited")
            assert "payments" in body["detail"]
            reads = await app.client.get("/api/v1/me", headers=bearer(alice))
            assert reads.status_code == 200


class TestStoreFailure:
    async def test_redis_down_fails_open_for_the_default_policy(
        self, open_app: AppFactory, dead_redis_store: RedisRateLimitStore
    ) -> None:
        async with open_app(rate_limit_store=dead_redis_store, **TEN_PER_MINUTE) as app:
            response = await app.client.get("/api/v1/products?tenant_id=1")
            assert response.status_code != 500
            assert response.status_code != 429
            assert decisions(app, "default", "failed_open") >= 1


class TestAdminView:
    async def test_shows_the_policies_and_a_subjects_standing(self, open_app: AppFactory) -> None:
        async with open_app(**TEN_PER_MINUTE) as app:
            api = IdentityApi(app.client)
            alice = (await api.create_tenant()).admin_token
            for _ in range(3):
                await app.client.get("/api/v1/me", headers=bearer(alice))
            response = await app.client.get("/api/v1/admin/ratelimits", headers=bearer(alice))
            assert response.status_code == 200, response.text
            view = response.json()
            assert view["subject"].startswith("user:")
            assert view["shared"] is False
            policies = {row["name"]: row for row in view["policies"]}
            assert set(policies) == {"default", "login", "payments", "plan_free", "plan_pro"}
            # The tenant is on no plan: its standing under a plan is untouched.
            assert policies["plan_free"]["usage"]["remaining"] == 100
            assert policies["default"]["spec"] == "token_bucket:10/60"
            assert policies["login"]["failure_mode"] == "closed"
            # Three reads and the view itself were charged (it is an /api request too); the
            # view's peek charged nothing.
            assert policies["default"]["usage"]["remaining"] == 6
            assert response.headers["x-ratelimit-remaining"] == "6"
            assert policies["login"]["usage"] is None

    async def test_refuses_a_malformed_address(self, open_app: AppFactory) -> None:
        async with open_app() as app:
            alice, _ = await two_users(app)
            response = await app.client.get(
                "/api/v1/admin/ratelimits?ip=not-an-ip", headers=bearer(alice)
            )
            assert_problem(response, 422, "validation", field="query.ip")


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    open_app: AppFactory,
) -> None:
    limits = {"default": "fixed_window:1/60"}
    async with open_app(rate_limits=limits, trusted_proxies=["127.0.0.1"]) as app:
        # httpx's ASGI transport connects from 127.0.0.1: a trusted proxy here.
        for address in ("203.0.113.7", "203.0.113.8"):
            response = await app.client.get(
                "/api/v1/products?tenant_id=1", headers={"x-forwarded-for": address}
            )
            assert response.status_code != 429
    async with open_app(rate_limits=limits) as app:
        statuses = []
        for address in ("203.0.113.7", "203.0.113.8"):
            response = await app.client.get(
                "/api/v1/products?tenant_id=1", headers={"x-forwarded-for": address}
            )
            statuses.append(response.status_code)
        assert statuses[1] == 429
