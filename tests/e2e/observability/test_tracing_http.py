"""Traces over HTTP (§10.1, api.md): traceparent in and out, SQL spans, sampling, the
trace store's endpoints and who may read them, and the ids on every log line."""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bazaar.kernel.cache.redis import RedisCacheStore
from bazaar.kernel.observability import tracing
from bazaar.testing.app import AppHarness, running_app
from bazaar.testing.identity import PASSWORD, IdentityApi, assert_problem, bearer

OPERATOR_KEY = "operator-key-for-tests"
SAMPLED = 0x01  # the traceparent flag bit; 0x02 (random trace id) may be set as well


def caller_traceparent(sampled: bool = True) -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}", trace_id, span_id


def parts(traceparent: str) -> tuple[str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    assert len(trace_id) == 32
    assert len(span_id) == 16
    return trace_id, span_id, flags


async def trace_of(app: AppHarness, trace_id: str, **headers: str) -> dict[str, Any]:
    response = await app.client.get(f"/api/v1/admin/traces/{trace_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def demo(database_url: str, tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path, database_url=database_url, demo=True, fast_password_hashing=True
    ) as harness:
        yield harness


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(
        data_dir=tmp_path, operator_key=OPERATOR_KEY, fast_password_hashing=True
    ) as harness:
        yield harness


class TestTraceparent:
    async def test_the_callers_trace_is_continued_and_named_in_the_answer(
        self, demo: AppHarness
    ) -> None:
        traceparent, trace_id, caller_span = caller_traceparent()
        response = await demo.client.get("/healthz", headers={"traceparent": traceparent})
        answered_trace, server_span, flags = parts(response.headers["traceparent"])
        assert (answered_trace, flags) == (trace_id, "01")
        assert server_span != caller_span
        (span,) = (await trace_of(demo, trace_id))["spans"]
        assert span["span_id"] == server_span
        assert span["parent_id"] == caller_span
        assert (span["name"], span["kind"], span["status"]) == ("GET /healthz", "server", "unset")
        assert span["attributes"]["http.route"] == "/healthz"
        assert span["attributes"]["http.response.status_code"] == 200
        assert span["duration_ms"] >= 0

    @pytest.mark.parametrize(
        "sent",
        [None, "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "01-zz"],
    )
    async def test_without_a_valid_traceparent_a_new_trace_starts(
        self, demo: AppHarness, sent: str | None
    ) -> None:
        headers = {} if sent is None else {"traceparent": sent}
        response = await demo.client.get("/healthz", headers=headers)
        assert response.status_code == 200
        trace_id, server_span, _ = parts(response.headers["traceparent"])
        assert trace_id != "0" * 32
        (span,) = (await trace_of(demo, trace_id))["spans"]
        assert (span["span_id"], span["parent_id"]) == (server_span, None)

    async def test_route_templates_name_the_spans_never_raw_paths(self, demo: AppHarness) -> None:
        response = await demo.client.get("/api/v1/products/12345")
        trace_id, _, _ = parts(response.headers["traceparent"])
        (server,) = [s for s in (await trace_of(demo, trace_id))["spans"] if s["kind"] == "server"]
        assert server["name"] == "GET /api/v1/products/{product_id}"
        unknown = await demo.client.get("/no/such/path")
        trace_id, _, _ = parts(unknown.headers["traceparent"])
        (server,) = (await trace_of(demo, trace_id))["spans"]
        assert server["name"] == "GET <unmatched>"

    async def test_sql_statements_are_children_of_the_request_without_their_values(
        self, demo: AppHarness, database_url: str
    ) -> None:
        tenant = await IdentityApi(demo.client).create_tenant()
        traceparent, trace_id, _ = caller_traceparent()
        secret_name = f"Teapot {secrets.token_hex(6)}"
        created = await demo.client.post(
            "/api/v1/products",
            json={
                "name": secret_name,
                "price": {"amount": "12.00", "currency": "EUR"},
                "category": "kitchen",
                "stock": 3,
            },
            headers={**bearer(tenant.admin_token), "traceparent": traceparent},
        )
        assert created.status_code == 201, created.text
        _, server_span, _ = parts(created.headers["traceparent"])
        spans = (await trace_of(demo, trace_id))["spans"]
        statements = [s for s in spans if "db.system.name" in s["attributes"]]
        engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
        assert {s["attributes"]["db.system.name"] for s in statements} == {engine}
        assert any(s["name"] == "INSERT products" for s in statements), statements
        by_id = {s["span_id"]: s for s in spans}
        for statement in statements:  # under the server span, directly or via the outbox
            parent = by_id[statement["parent_id"]]
            assert parent["span_id"] == server_span or parent["parent_id"] == server_span
        (producer,) = [s for s in spans if s["kind"] == "producer"]
        assert producer["attributes"]["bazaar.event_types"] == ["catalog.product_created"]
        assert secret_name not in orjson.dumps(spans).decode()
        server = by_id[server_span]
        assert server["attributes"]["bazaar.tenant_id"] == tenant.id

    async def test_a_server_error_marks_the_span(self, demo: AppHarness) -> None:
        tenant = await IdentityApi(demo.client).create_tenant()
        demo.container.catalog = None  # type: ignore[assignment]  # every catalog route fails
        response = await demo.client.get("/api/v1/products", headers=bearer(tenant.admin_token))
        assert response.status_code == 500
        trace_id, _, _ = parts(response.headers["traceparent"])
        (server,) = [s for s in (await trace_of(demo, trace_id))["spans"] if s["kind"] == "server"]
        assert server["status"] == "error"
        assert server["attributes"]["http.response.status_code"] == 500


class TestSampling:
    async def test_ratio_zero_records_new_traces_not_but_a_sampled_caller_still(
        self, tmp_path: Path
    ) -> None:
        async with running_app(data_dir=tmp_path, demo=True, tracing={"sample_ratio": 0.0}) as app:
            fresh = await app.client.get("/healthz")
            trace_id, _, flags = parts(fresh.headers["traceparent"])
            assert int(flags, 16) & SAMPLED == 0
            missing = await app.client.get(f"/api/v1/admin/traces/{trace_id}")
            assert_problem(missing, 404, "not-found")

            traceparent, caller_trace, _ = caller_traceparent(sampled=True)
            await app.client.get("/healthz", headers={"traceparent": traceparent})
            assert len((await trace_of(app, caller_trace))["spans"]) == 1

            unsampled, unsampled_trace, _ = caller_traceparent(sampled=False)
            answer = await app.client.get("/healthz", headers={"traceparent": unsampled})
            assert int(parts(answer.headers["traceparent"])[2], 16) & SAMPLED == 0
            gone = await app.client.get(f"/api/v1/admin/traces/{unsampled_trace}")
            assert_problem(gone, 404, "not-found")

    async def test_tracing_off_sends_no_traceparent_and_keeps_nothing(self, tmp_path: Path) -> None:
        async with running_app(data_dir=tmp_path, demo=True, tracing={"enabled": False}) as app:
            traceparent, _, _ = caller_traceparent()
            response = await app.client.get("/healthz", headers={"traceparent": traceparent})
            assert response.status_code == 200
            assert "traceparent" not in response.headers
            listed = await app.client.get("/api/v1/admin/traces")
            assert listed.json() == []


async def _tenant_admin(app: AppHarness, name: str, email: str) -> tuple[str, str]:
    """A tenant made by the operator, and its admin's access token."""
    created = await app.client.post(
        "/api/v1/tenants",
        json={"name": name, "admin_email": email, "admin_password": PASSWORD},
        headers={"x-operator-key": OPERATOR_KEY},
    )
    assert created.status_code == 201, created.text
    tenant_id = created.json()["id"]
    token = await IdentityApi(app.client).access_token(tenant_id, email)
    return tenant_id, token


class TestTraceAccess:
    async def test_anonymous_and_customers_are_refused(self, production: AppHarness) -> None:
        tenant_id, _ = await _tenant_admin(production, "Acme", "admin@acme.test")
        api = IdentityApi(production.client)
        await api.register(tenant_id, "c@acme.test")
        customer = await api.access_token(tenant_id, "c@acme.test")
        assert_problem(await production.client.get("/api/v1/admin/traces"), 401, "unauthenticated")
        refused = await production.client.get("/api/v1/admin/traces", headers=bearer(customer))
        assert_problem(refused, 403, "forbidden")

    async def test_a_tenant_admin_sees_its_own_traces_the_operator_all(
        self, production: AppHarness
    ) -> None:
        _, acme = await _tenant_admin(production, "Acme", "admin@acme.test")
        _, globex = await _tenant_admin(production, "Globex", "admin@globex.test")
        acme_trace = parts(
            (await production.client.get("/api/v1/me", headers=bearer(acme))).headers["traceparent"]
        )[0]
        globex_trace = parts(
            (await production.client.get("/api/v1/me", headers=bearer(globex))).headers[
                "traceparent"
            ]
        )[0]

        assert (await trace_of(production, acme_trace, authorization=f"Bearer {acme}"))[
            "trace_id"
        ] == acme_trace
        hidden = await production.client.get(
            f"/api/v1/admin/traces/{globex_trace}", headers=bearer(acme)
        )
        assert_problem(hidden, 404, "not-found")
        listed = await production.client.get("/api/v1/admin/traces?limit=500", headers=bearer(acme))
        listed_ids = {t["trace_id"] for t in listed.json()}
        assert acme_trace in listed_ids
        assert globex_trace not in listed_ids

        everything = await production.client.get(
            "/api/v1/admin/traces?limit=500", headers={"x-operator-key": OPERATOR_KEY}
        )
        assert {acme_trace, globex_trace} <= {t["trace_id"] for t in everything.json()}

    async def test_listing_is_newest_first_and_bounded_by_limit(self, demo: AppHarness) -> None:
        sent = []
        for _ in range(3):
            traceparent, trace_id, _ = caller_traceparent()
            await demo.client.get("/healthz", headers={"traceparent": traceparent})
            sent.append(trace_id)
        listed = await demo.client.get("/api/v1/admin/traces?limit=2")
        # The listing request itself is not in it: its span ends after the answer is built.
        assert [t["trace_id"] for t in listed.json()] == [sent[2], sent[1]]

    @pytest.mark.parametrize(
        ("path", "field"),
        [
            ("/api/v1/admin/traces/not-a-trace-id", "path.trace_id"),
            ("/api/v1/admin/traces?limit=0", "query.limit"),
            ("/api/v1/admin/traces?limit=501", "query.limit"),
        ],
    )
    async def test_bad_input_is_a_validation_problem(
        self, demo: AppHarness, path: str, field: str
    ) -> None:
        assert_problem(await demo.client.get(path), 422, "validation", field=field)

    async def test_an_unknown_trace_is_not_found(self, demo: AppHarness) -> None:
        missing = await demo.client.get(f"/api/v1/admin/traces/{secrets.token_hex(16)}")
        assert_problem(missing, 404, "not-found")


class TestLogCorrelation:
    async def test_every_log_line_of_a_request_carries_its_ids(
        self, demo: AppHarness, captured_logs: io.StringIO
    ) -> None:
        tenant = await IdentityApi(demo.client).create_tenant()
        captured_logs.truncate(0)
        captured_logs.seek(0)
        traceparent, trace_id, _ = caller_traceparent()
        response = await demo.client.post(
            "/api/v1/products",
            json={
                "name": "Logged teapot",
                "price": {"amount": "12.00", "currency": "EUR"},
                "category": "kitchen",
            },
            headers={**bearer(tenant.admin_token), "traceparent": traceparent},
        )
        assert response.status_code == 201
        lines = [orjson.loads(line) for line in captured_logs.getvalue().splitlines()]
        mine = [
            line for line in lines if line.get("request_id") == response.headers["x-request-id"]
        ]
        assert {line["event"] for line in mine} >= {"request"}
        for line in mine:
            assert line["trace_id"] == trace_id
            assert len(line["span_id"]) == 16
        # The tenant is named once the caller is authenticated: on the access line at least.
        (access,) = [line for line in mine if line["event"] == "request"]
        assert access["tenant_id"] == int(tenant.id)


class TestCacheSpans:
    async def test_a_miss_is_a_span_with_its_redis_commands_a_hit_is_none(
        self, tmp_path: Path, redis_url: str
    ) -> None:
        async with running_app(
            data_dir=tmp_path, demo=True, fast_password_hashing=True, redis_url=redis_url
        ) as app:
            tenant = await IdentityApi(app.client).create_tenant()
            created = await app.client.post(
                "/api/v1/products",
                json={
                    "name": "Traced teapot",
                    "price": {"amount": "12.00", "currency": "EUR"},
                    "category": "kitchen",
                },
                headers=bearer(tenant.admin_token),
            )
            path = f"/api/v1/products/{created.json()['id']}"
            spans_of = []
            for _ in range(2):
                traceparent, trace_id, _ = caller_traceparent()
                read = await app.client.get(
                    path, headers={**bearer(tenant.admin_token), "traceparent": traceparent}
                )
                assert read.status_code == 200
                spans_of.append((read.headers["x-cache"], (await trace_of(app, trace_id))["spans"]))
        (miss_state, miss), (hit_state, hit) = spans_of
        assert (miss_state, hit_state) == ("MISS", "HIT")
        (load,) = [s for s in miss if s["name"] == "cache products miss"]
        assert load["attributes"]["bazaar.cache.result"] == "loaded"
        by_id = {s["span_id"]: s for s in miss}
        redis = [s for s in miss if s["attributes"].get("db.system.name") == "redis"]
        assert {s["name"] for s in redis} >= {"redis GET", "redis SET"}
        under_load = [s for s in redis if by_id.get(s["parent_id"]) is load]
        assert under_load, "the L2 write-back and the load lock run inside the miss span"
        assert not [s for s in hit if s["name"].startswith(("cache ", "redis "))]


class TestBackgroundWork:
    async def test_statements_and_commands_outside_a_trace_start_none_inside_one_join_it(
        self, tmp_path: Path, redis_url: str
    ) -> None:
        """A poller's SQL and Redis round trips are no traces of their own (they would crowd
        the store out of the requests it is there to show); under a recorded span they are
        its children."""
        async with running_app(
            data_dir=tmp_path, demo=True, fast_password_hashing=True, redis_url=redis_url
        ) as app:
            tracing_kit = app.container.tracing
            assert tracing_kit is not None
            assert tracing_kit.store is not None
            assert app.container.redis is not None
            l2 = RedisCacheStore(app.container.redis, prefix=f"bg-{secrets.token_hex(4)}:")
            before = {t.trace_id for t in tracing_kit.store.recent(500)}

            async def background_round_trips() -> None:
                await app.container.database.ping()
                await l2.set("k", b"v", 30.0)
                assert await l2.get("k") == b"v"

            await background_round_trips()
            assert {t.trace_id for t in tracing_kit.store.recent(500)} == before

            with tracing.tracer().start_as_current_span("job") as job:
                await background_round_trips()
            trace = tracing_kit.store.get(format(job.get_span_context().trace_id, "032x"))
        assert trace is not None
        (root,) = [s for s in trace.spans if s.parent_id is None]
        assert root.name == "job"
        children = {s.name for s in trace.spans if s.parent_id == root.span_id}
        assert children >= {"SELECT", "redis SET", "redis GET"}
