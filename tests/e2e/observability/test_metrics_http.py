"""`/metrics` (§10.2, api.md "Metrics"): the contract's families, the pools' USE metrics,
and label values that never carry a raw id, whatever paths were requested."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import IdentityApi, bearer

# api.md's families that exist so far (bazaar_replica_lag_seconds waits for replicas).
CONTRACT_FAMILIES = {
    "http_requests",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "bazaar_dependency_calls",
    "bazaar_dependency_duration_seconds",
    "bazaar_breaker_state",
    "bazaar_ratelimit_decisions",
    "bazaar_shed",
    "bazaar_cache_requests",
    "bazaar_cache_loads",
    "bazaar_outbox_pending",
    "bazaar_outbox_lag_seconds",
    "bazaar_consumer_lag",
    "bazaar_dlq_messages",
    "bazaar_saga",
    "bazaar_db_pool_wait_seconds",
}
POOL_FAMILIES = {
    "bazaar_db_pool_timeouts",
    "bazaar_db_pool_connections",
    "bazaar_db_pool_max_connections",
    "bazaar_db_pool_waiting",
}
# What an id looks like in a label: a long run of digits (Snowflake ids), a long hex run
# (trace ids, UUIDs without dashes) or a UUID.
RAW_ID = re.compile(r"[0-9]{6,}|[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path, database_url=database_url, demo=True, fast_password_hashing=True
    ) as harness:
        yield harness


async def scrape(app: AppHarness) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = await app.client.get("/metrics")
    assert response.status_code == 200
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


async def test_the_contract_families_and_the_pool_metrics_are_exposed(app: AppHarness) -> None:
    tenant = await IdentityApi(app.client).create_tenant()
    await app.client.get("/api/v1/products", headers=bearer(tenant.admin_token))
    families = await scrape(app)
    expected = CONTRACT_FAMILIES | POOL_FAMILIES
    assert set(families) >= expected, sorted(expected - set(families))
    waits = {
        labels["pool"]: value
        for labels, value in families["bazaar_db_pool_wait_seconds"]
        if "le" not in labels and value and labels.get("pool")
    }
    assert waits.get("primary", 0) > 0, families["bazaar_db_pool_wait_seconds"]
    states = {
        (labels["pool"], labels["state"]) for labels, _ in families["bazaar_db_pool_connections"]
    }
    assert {("primary", "in_use"), ("primary", "idle")} <= states


async def test_no_label_carries_a_raw_id(app: AppHarness) -> None:
    tenant = await IdentityApi(app.client).create_tenant()
    auth = bearer(tenant.admin_token)
    created = await app.client.post(
        "/api/v1/products",
        json={
            "name": "Labelled teapot",
            "price": {"amount": "9.00", "currency": "EUR"},
            "category": "kitchen",
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    for path in (
        f"/api/v1/products/{product_id}",
        "/api/v1/products/384529554848055296",
        f"/api/v1/orders/{product_id}",
        "/no/such/path/384529554848055296",
        "/api/v1/admin/traces/0af7651916cd43dd8448eb211c80319c",
        f"/l/{product_id}",
    ):
        await app.client.get(path, headers=auth)
    families = await scrape(app)
    offending = [
        (family, labels)
        for family, samples in families.items()
        for labels, _ in samples
        if any(RAW_ID.search(value) for value in labels.values())
    ]
    assert offending == []
    routes = {labels["route"] for labels, _ in families["http_requests"]}
    assert "/api/v1/products/{product_id}" in routes
    assert "<unmatched>" in routes
