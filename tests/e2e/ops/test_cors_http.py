"""CORS by allow-list through the whole app (capabilities §1.8): preflights, simple requests,
refused origins, no CORS at all without a list, and preflights answered before the limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bazaar.kernel.shedding import AdmissionController
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import assert_problem

SHOP = "https://shop.example"
OTHER_SHOP = "http://localhost:5173"
EVIL = "https://evil.example"


def preflight(method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


def cors_headers(response: httpx.Response) -> set[str]:
    return {name for name in response.headers if name.startswith("access-control-")}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path, demo=True, cors_origins=f"{SHOP}, {OTHER_SHOP}", max_in_flight=4
    ) as harness:
        yield harness


class TestAllowedOrigins:
    @pytest.mark.parametrize("origin", [SHOP, OTHER_SHOP])
    async def test_a_preflight_from_an_allowed_origin_is_answered(
        self, harness: AppHarness, origin: str
    ) -> None:
        requested = "authorization, content-type, idempotency-key, x-request-id, traceparent"
        response = await harness.client.options(
            "/api/v1/orders", headers={"origin": origin, **preflight("POST", requested)}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
        assert "access-control-allow-credentials" not in response.headers
        assert response.headers["access-control-max-age"] == "600"
        methods = response.headers["access-control-allow-methods"].split(", ")
        assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(methods)
        allowed = {h.lower() for h in response.headers["access-control-allow-headers"].split(", ")}
        assert {
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "if-none-match",
            "x-request-id",
            "x-request-timeout",
            "x-api-key",
            "traceparent",
        } <= allowed
        assert "origin" in response.headers["vary"].lower()
        assert response.headers["x-request-id"]

    async def test_a_simple_request_is_marked_and_exposes_the_api_headers(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.get("/healthz", headers={"origin": SHOP})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SHOP
        exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {
            "X-Request-ID",
            "ETag",
            "Location",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "RateLimit-Policy",
            "RateLimit",
            "Idempotent-Replayed",
            "X-Cache",
            "Deprecation",
            "Sunset",
            "Link",
            "traceparent",
        } <= exposed
        varies = [v.strip() for v in response.headers["vary"].split(",")]
        assert "Origin" in varies
        assert "Accept-Encoding" in varies

    async def test_a_problem_is_readable_by_the_page(self, harness: AppHarness) -> None:
        response = await harness.client.get("/api/v1/me", headers={"origin": SHOP})
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["access-control-allow-origin"] == SHOP


class TestRefusedOrigins:
    async def test_a_preflight_from_another_origin_gets_no_allow_origin(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.options(
            "/api/v1/orders", headers={"origin": EVIL, **preflight()}
        )
        body = assert_problem(response, 403, "forbidden")
        assert body["detail"] == "The CORS policy does not allow this request's origin."
        assert "access-control-allow-origin" not in response.headers

    @pytest.mark.parametrize("origin", [EVIL, f"{SHOP}:8443", "http://shop.example", "null"])
    async def test_a_request_from_another_origin_gets_no_allow_origin(
        self, harness: AppHarness, origin: str
    ) -> None:
        response = await harness.client.get("/healthz", headers={"origin": origin})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers

    async def test_a_preflight_asking_for_an_unlisted_header_is_refused(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.options(
            "/api/v1/orders", headers={"origin": SHOP, **preflight("POST", "x-operator-key")}
        )
        body = assert_problem(response, 403, "forbidden")
        assert body["detail"] == "The CORS policy does not allow this request's headers."


class TestPreflightsComeFirst:
    async def test_a_preflight_is_answered_when_the_server_sheds_everything_else(
        self, harness: AppHarness
    ) -> None:
        app = harness.client._transport.app  # type: ignore[attr-defined]
        admission: AdmissionController = app.state.admission
        taken = 0
        while admission.try_admit():
            taken += 1
        try:
            answered = await harness.client.options(
                "/api/v1/orders", headers={"origin": SHOP, **preflight()}
            )
            shed = await harness.client.get("/api/v1/me", headers={"origin": SHOP})
        finally:
            for _ in range(taken):
                admission.release()
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == SHOP
        assert_problem(shed, 503, "overloaded")
        # The page can read the 503 and its Retry-After.
        assert shed.headers["access-control-allow-origin"] == SHOP
        assert "Retry-After" in shed.headers["access-control-expose-headers"]

    async def test_a_preflight_does_not_need_credentials_or_a_json_body(
        self, harness: AppHarness
    ) -> None:
        response = await harness.client.options(
            "/api/v1/products/123",
            headers={"origin": SHOP, "content-type": "text/plain", **preflight("PATCH")},
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SHOP


class TestNoAllowList:
    async def test_without_origins_no_response_carries_cors_headers(self, tmp_path: Path) -> None:
        async with running_app(data_dir=tmp_path, demo=True) as harness:
            simple = await harness.client.get("/healthz", headers={"origin": SHOP})
            refused = await harness.client.options(
                "/api/v1/orders", headers={"origin": SHOP, **preflight()}
            )
        assert simple.status_code == 200
        assert cors_headers(simple) == set()
        assert "origin" not in simple.headers.get("vary", "").lower()
        assert_problem(refused, 405, "method-not-allowed")
        assert cors_headers(refused) == set()
