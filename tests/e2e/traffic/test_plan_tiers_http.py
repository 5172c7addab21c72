"""Tenant plan tiers (capabilities §3.3): one allowance per tenant, set by the operator."""

from __future__ import annotations

from bazaar.testing.identity import AppFactory, IdentityApi, Tenant, assert_problem, bearer

FREE_IS_THREE = {"rate_limits": {"plan_free": "fixed_window:3/60"}}


async def tenant_with_customers(
    api: IdentityApi, name: str, *emails: str
) -> tuple[Tenant, list[str]]:
    tenant = await api.create_tenant(name)
    tokens = [
        await api.user_token(tenant.id, email, "customer", tenant.admin_token) for email in emails
    ]
    return tenant, tokens


class TestPlanTiers:
    async def test_the_users_of_a_tenant_on_a_plan_share_one_allowance(
        self, open_app: AppFactory, database_url: str
    ) -> None:
        async with open_app(database_url=database_url, **FREE_IS_THREE) as app:
            api = IdentityApi(app.client)
            tenant, (ann, ben) = await tenant_with_customers(
                api, "Small", "ann@small.test", "ben@small.test"
            )
            _other, (cat,) = await tenant_with_customers(api, "Other", "cat@other.test")
            response = await app.client.put(
                f"/api/v1/tenants/{tenant.id}/plan", json={"plan": "free"}
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"id": tenant.id, "name": "Small", "plan": "free"}

            statuses = [
                (await app.client.get("/api/v1/me", headers=bearer(token))).status_code
                for token in (ann, ben, ann)
            ]
            assert statuses == [200, 200, 200]
            refused = await app.client.get("/api/v1/me", headers=bearer(ben))
            body = assert_problem(refused, 429, "rate-limited")
            assert "plan_free" in body["detail"]
            assert '"plan_free";q=3;w=60' in refused.headers["ratelimit-policy"]
            # A tenant on no plan has only its users' own limits.
            for _ in range(5):
                assert (await app.client.get("/api/v1/me", headers=bearer(cat))).is_success

            # Off the plan, the tenant's users are back to their own limits at once.
            assert (await app.client.put(
                f"/api/v1/tenants/{tenant.id}/plan", json={"plan": None}
            )).status_code == 200  # fmt: skip
            allowed = await app.client.get("/api/v1/me", headers=bearer(ben))
            assert allowed.status_code == 200
            assert "plan_free" not in allowed.headers["ratelimit-policy"]

    async def test_a_plan_with_no_policy_limits_nothing_more(self, open_app: AppFactory) -> None:
        async with open_app(**FREE_IS_THREE) as app:
            api = IdentityApi(app.client)
            tenant, (ann,) = await tenant_with_customers(api, "Big", "ann@big.test")
            response = await app.client.put(
                f"/api/v1/tenants/{tenant.id}/plan", json={"plan": "enterprise"}
            )
            assert response.status_code == 200
            for _ in range(5):
                answer = await app.client.get("/api/v1/me", headers=bearer(ann))
                assert answer.status_code == 200
                assert "plan_" not in answer.headers["ratelimit-policy"]

    async def test_the_admin_view_shows_the_tenants_standing(self, open_app: AppFactory) -> None:
        async with open_app(**FREE_IS_THREE) as app:
            api = IdentityApi(app.client)
            tenant = await api.create_tenant("Small")
            await app.client.put(f"/api/v1/tenants/{tenant.id}/plan", json={"plan": "free"})
            view = await app.client.get(
                "/api/v1/admin/ratelimits", headers=bearer(tenant.admin_token)
            )
            rows = {row["name"]: row for row in view.json()["policies"]}
            # The view's own request was the tenant's first on the plan.
            assert rows["plan_free"]["usage"]["remaining"] == 2
            assert "plan 'free'" in rows["plan_free"]["applies_to"]
            assert rows["plan_pro"]["usage"]["remaining"] == 5000


class TestSettingAPlan:
    async def test_refuses_a_malformed_plan_name(self, open_app: AppFactory) -> None:
        async with open_app() as app:
            tenant = await IdentityApi(app.client).create_tenant()
            for plan in ("Pro", "", "1tier", "a" * 33, "pro-plus"):
                response = await app.client.put(
                    f"/api/v1/tenants/{tenant.id}/plan", json={"plan": plan}
                )
                assert_problem(response, 422, "validation", field="plan")

    async def test_an_unknown_tenant_is_not_found(self, open_app: AppFactory) -> None:
        async with open_app() as app:
            for tenant_id in ("123456789", "not-an-id"):
                response = await app.client.put(
                    f"/api/v1/tenants/{tenant_id}/plan", json={"plan": "pro"}
                )
                assert_problem(response, 404, "not-found")

    async def test_outside_demo_mode_only_the_operator_may(self, open_app: AppFactory) -> None:
        key = "operator-key-for-plans-0123456789"
        async with open_app(demo=False, operator_key=key) as app:
            created = await app.client.post(
                "/api/v1/tenants",
                json={
                    "name": "Acme",
                    "admin_email": "admin@acme.test",
                    "admin_password": "correct horse battery staple",
                },
                headers={"x-operator-key": key},
            )
            tenant_id = created.json()["id"]
            missing = await app.client.put(
                f"/api/v1/tenants/{tenant_id}/plan", json={"plan": "pro"}
            )
            assert_problem(missing, 401, "unauthenticated")
            wrong = await app.client.put(
                f"/api/v1/tenants/{tenant_id}/plan",
                json={"plan": "pro"},
                headers={"x-operator-key": "not-the-key-at-all-0123456789"},
            )
            assert_problem(wrong, 401, "unauthenticated")
            right = await app.client.put(
                f"/api/v1/tenants/{tenant_id}/plan",
                json={"plan": "pro"},
                headers={"x-operator-key": key},
            )
            assert right.status_code == 200
            assert right.json()["plan"] == "pro"
