"""Tour ``http-errors``: the request path's error answers are problem+json (§1.1–1.3)."""

from __future__ import annotations

from typing import Any

from bazaar.tour.runner import Scenario, Story

__all__ = ["SCENARIO"]


async def run(story: Story) -> None:
    client = story.client
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/api/v1/no-such-thing", {}, 404, "not-found"),
        ("DELETE", "/healthz", {}, 405, "method-not-allowed"),
        (
            "POST",
            "/api/v1/auth/login",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "malformed-body",
        ),
        (
            "POST",
            "/api/v1/auth/login",
            {"content": b"email=a", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported-media-type",
        ),
        ("POST", "/api/v1/auth/login", {"json": {"tenant_id": 1, "email": 5}}, 422, "validation"),
        (
            "POST",
            "/api/v1/auth/login",
            {"content": b"x" * (2 * 1024 * 1024), "headers": {"content-type": "application/json"}},
            413,
            "payload-too-large",
        ),
    ]
    for method, path, kwargs, status, slug in cases:
        response = await client.request(method, path, **kwargs)
        body = response.json()
        story.step(
            f"{method} {path} → {response.status_code} {body.get('type', '').rsplit('/', 1)[-1]}"
            f" (request_id {body.get('request_id')})"
        )
        story.check(
            response.status_code == status
            and response.headers.get("content-type", "").startswith("application/problem+json")
            and body.get("type", "").endswith("/" + slug)
            and body.get("request_id") == response.headers.get("x-request-id"),
            f"{status} {slug} as problem+json carrying the request id",
        )
        if slug == "validation":
            fields = sorted(e["field"] for e in body.get("errors", []))
            story.step(f"field errors name the fields at fault: {', '.join(fields)}")
            story.check("email" in fields, "the wrong-typed field is named")


SCENARIO = Scenario(
    name="http-errors",
    concept="request lifecycle, status codes, problem details",
    capability="§1.1–1.3",
    run=run,
)
