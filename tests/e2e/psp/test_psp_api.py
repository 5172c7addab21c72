"""The PSP simulator's HTTP API, in process: tokens, capture/void/refund, idempotency, faults."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from bazaar.kernel.clock import ManualClock
from bazaar.psp import store
from bazaar.psp.testing import PspHarness, running_psp

AUTHORIZATIONS = "/v1/authorizations"


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert {"type", "code", "message"} <= error.keys()
    return str(error["code"])


async def authorized(psp: PspHarness, key: str, **extra: Any) -> dict[str, Any]:
    response = await psp.authorize(key, **extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post(
    psp: PspHarness, path: str, key: str | None, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await psp.client.post(path, json=body or {}, headers=headers)


async def captured(psp: PspHarness, key: str, amount: str = "19.99") -> dict[str, Any]:
    auth = await authorized(psp, key, amount=amount, capture=True)
    assert auth["status"] == "captured"
    return auth


async def authorization_count(psp: PspHarness) -> int:
    return int((await psp.stats())["authorizations"]["total"])


class TestAuthentication:
    async def test_a_missing_api_key_is_401(self, psp: PspHarness) -> None:
        response = await psp.client.get(AUTHORIZATIONS, headers={"Authorization": ""})
        assert error_code(response, 401) == "invalid_api_key"
        assert response.json()["error"]["type"] == "authentication_error"
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_a_wrong_api_key_is_401_and_creates_nothing(self, psp: PspHarness) -> None:
        response = await psp.client.post(
            AUTHORIZATIONS,
            json={"amount": "1.00", "currency": "EUR", "card_token": "tok_ok"},
            headers={"Authorization": "Bearer nope", "Idempotency-Key": "auth-wrong"},
        )
        assert error_code(response, 401) == "invalid_api_key"
        assert await authorization_count(psp) == 0

    async def test_admin_calls_need_the_key_too(self, psp: PspHarness) -> None:
        response = await psp.client.get("/v1/admin/stats", headers={"Authorization": "Basic x"})
        assert error_code(response, 401) == "invalid_api_key"

    async def test_health_needs_no_key(self, psp: PspHarness) -> None:
        response = await psp.client.get("/healthz", headers={"Authorization": ""})
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


class TestCardTokens:
    async def test_tok_ok_approves(self, psp: PspHarness, clock: ManualClock) -> None:
        auth = await authorized(psp, "tok-ok-1", reference="order-1")
        assert auth["id"].startswith("auth_")
        assert auth["status"] == "authorized"
        assert (auth["amount"], auth["currency"]) == ("19.99", "EUR")
        assert auth["decline_code"] is None
        assert auth["reference"] == "order-1"
        assert auth["created_at"] == "2023-11-14T22:13:20.000Z"  # the ManualClock's start
        assert auth["captured_amount"] == "0.00"

    @pytest.mark.parametrize(
        ("token", "code"),
        [("tok_declined", "card_declined"), ("tok_insufficient", "insufficient_funds")],
    )
    async def test_declining_tokens_answer_201_declined(
        self, psp: PspHarness, token: str, code: str
    ) -> None:
        auth = await authorized(psp, f"decline-{token}", card=token)
        assert auth["status"] == "declined"
        assert auth["decline_code"] == code
        stats = await psp.stats()
        assert stats["authorizations"]["by_status"]["declined"] == 1

    async def test_tok_slow_answers_after_the_configured_delay(
        self, psp: PspHarness, clock: ManualClock
    ) -> None:
        before = clock.monotonic()
        auth = await authorized(psp, "slow-1", card="tok_slow")
        assert auth["status"] == "authorized"
        assert clock.sleeps == [5.0]
        assert clock.monotonic() - before == 5.0

    async def test_tok_flaky_fails_without_creating_anything_then_succeeds_on_retry(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        probe = random.Random(1)
        assert probe.random() < 0.5 <= probe.random()  # seed 1: the first draw fails
        async with running_psp(tmp_path, clock=clock, rng=random.Random(1)) as psp:
            first = await psp.authorize("flaky-1", card="tok_flaky")
            assert error_code(first, 503) == "processor_unavailable"
            assert first.headers["retry-after"] == "1"
            assert await authorization_count(psp) == 0
            lookup = await psp.client.get("/v1/idempotency/flaky-1")
            assert error_code(lookup, 404) == "idempotency_key_not_found"

            retry = await psp.authorize("flaky-1", card="tok_flaky")
            assert retry.status_code == 201
            assert "idempotent-replayed" not in retry.headers
            assert await authorization_count(psp) == 1

    @pytest.mark.parametrize(("rate", "status"), [(0.0, 201), (1.0, 503)])
    async def test_the_flaky_rate_is_configurable(
        self, tmp_path: Path, clock: ManualClock, rate: float, status: int
    ) -> None:
        async with running_psp(
            tmp_path, clock=clock, rng=random.Random(0), flaky_error_rate=rate
        ) as psp:
            for attempt in range(5):
                response = await psp.authorize(f"flaky-rate-{attempt}", card="tok_flaky")
                assert response.status_code == status

    async def test_an_unknown_token_is_422_and_creates_nothing(self, psp: PspHarness) -> None:
        response = await psp.authorize("unknown-1", card="tok_stolen")
        assert error_code(response, 422) == "unknown_card_token"
        assert "tok_ok" in response.json()["error"]["message"]
        assert await authorization_count(psp) == 0

    async def test_capture_true_authorizes_and_captures_at_once(self, psp: PspHarness) -> None:
        auth = await captured(psp, "capture-now-1", amount="5.00")
        assert auth["captured_amount"] == "5.00"
        assert auth["captured_at"] is not None


class TestRequestValidation:
    async def test_the_idempotency_key_is_required(self, psp: PspHarness) -> None:
        response = await post(
            psp, AUTHORIZATIONS, None, {"amount": "1.00", "currency": "EUR", "card_token": "tok_ok"}
        )
        assert error_code(response, 400) == "idempotency_key_required"

    @pytest.mark.parametrize("key", ["has space", "x" * 256, "ключ"])
    async def test_an_unusable_idempotency_key_is_400(self, psp: PspHarness, key: str) -> None:
        response = await psp.client.post(
            AUTHORIZATIONS,
            json={"amount": "1.00", "currency": "EUR", "card_token": "tok_ok"},
            headers={b"Idempotency-Key": key.encode()},
        )
        assert error_code(response, 400) == "invalid_idempotency_key"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"amount": 19.99, "currency": "EUR", "card_token": "tok_ok"}, "amount"),
            ({"amount": "-1", "currency": "EUR", "card_token": "tok_ok"}, "amount"),
            ({"amount": "1.001", "currency": "EUR", "card_token": "tok_ok"}, "amount"),
            ({"amount": "1.00", "currency": "eur", "card_token": "tok_ok"}, "currency"),
            ({"amount": "1.00", "card_token": "tok_ok"}, "currency"),
            ({"amount": "1.00", "currency": "EUR", "card_token": "tok_ok", "x": 1}, "x"),
            ({"amount": "1.00", "currency": "EUR", "card_token": "tok_ok", "capture": "yes"},
             "capture"),
        ],
    )  # fmt: skip
    async def test_invalid_bodies_are_422_naming_the_field(
        self, psp: PspHarness, body: dict[str, Any], field: str
    ) -> None:
        response = await post(psp, AUTHORIZATIONS, "invalid-body", body)
        assert error_code(response, 422) == "invalid_request"
        assert field in [d["field"] for d in response.json()["error"]["details"]]

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
    async def test_a_body_that_is_not_a_json_object_is_400(
        self, psp: PspHarness, raw: bytes
    ) -> None:
        response = await psp.client.post(
            AUTHORIZATIONS, content=raw, headers={"Idempotency-Key": "not-json"}
        )
        assert error_code(response, 400) == "invalid_json"

    async def test_unknown_paths_and_methods_answer_json(self, psp: PspHarness) -> None:
        assert error_code(await psp.client.get("/v1/nothing"), 404) == "not_found"
        assert error_code(await psp.client.delete(AUTHORIZATIONS), 405) == "method_not_allowed"

    async def test_an_oversized_body_is_413(self, psp: PspHarness) -> None:
        response = await psp.client.post(
            AUTHORIZATIONS,
            content=b"{" + b" " * (psp.config.max_body_bytes + 1) + b"}",
            headers={"Idempotency-Key": "too-big"},
        )
        assert error_code(response, 413) == "body_too_large"


class TestCapture:
    async def test_captures_the_full_amount_by_default(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-full")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-full-c")
        assert response.status_code == 200
        assert response.json()["status"] == "captured"
        assert response.json()["captured_amount"] == "19.99"

    async def test_captures_part_of_the_amount(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-part")
        response = await post(
            psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-part-c", {"amount": "10.00"}
        )
        assert response.json()["captured_amount"] == "10.00"
        current = (await psp.client.get(f"{AUTHORIZATIONS}/{auth['id']}")).json()
        assert (current["status"], current["captured_amount"]) == ("captured", "10.00")

    async def test_more_than_authorized_is_409(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-over")
        response = await post(
            psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-over-c", {"amount": "20.00"}
        )
        assert error_code(response, 409) == "capture_exceeds_authorized"

    async def test_a_second_capture_is_409(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-twice")
        await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-twice-1")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-twice-2")
        assert error_code(response, 409) == "already_captured"

    async def test_a_declined_authorization_cannot_be_captured(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-declined", card="tok_declined")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "cap-declined-c")
        assert error_code(response, 409) == "invalid_state"

    async def test_an_unknown_authorization_is_404(self, psp: PspHarness) -> None:
        response = await post(psp, f"{AUTHORIZATIONS}/auth_missing/capture", "cap-missing")
        assert error_code(response, 404) == "authorization_not_found"
        assert error_code(await psp.client.get(f"{AUTHORIZATIONS}/auth_missing"), 404) == (
            "authorization_not_found"
        )

    async def test_capture_needs_an_idempotency_key(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "cap-nokey")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", None)
        assert error_code(response, 400) == "idempotency_key_required"


class TestVoid:
    async def test_voids_an_authorization_and_voiding_again_changes_nothing(
        self, psp: PspHarness
    ) -> None:
        auth = await authorized(psp, "void-1")
        first = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", None)
        assert first.status_code == 200
        assert first.json()["status"] == "voided"
        again = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", None)
        assert again.status_code == 200
        assert again.json()["voided_at"] == first.json()["voided_at"]

    async def test_void_after_capture_is_409(self, psp: PspHarness) -> None:
        auth = await captured(psp, "void-captured")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", None)
        assert error_code(response, 409) == "already_captured"

    async def test_capture_after_void_is_409(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "void-then-capture")
        await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", "void-then-capture-v")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "void-then-c")
        assert error_code(response, 409) == "invalid_state"

    async def test_a_keyed_void_is_replayed(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "void-keyed")
        first = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", "void-keyed-v")
        again = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", "void-keyed-v")
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content


class TestRefunds:
    async def test_partial_refunds_add_up_to_the_captured_total(self, psp: PspHarness) -> None:
        auth = await captured(psp, "refund-parts", amount="10.00")
        path = f"{AUTHORIZATIONS}/{auth['id']}/refunds"
        first = await post(psp, path, "refund-parts-1", {"amount": "4.00"})
        assert first.status_code == 201
        refund = first.json()
        assert refund["id"].startswith("re_")
        assert (refund["status"], refund["amount"]) == ("succeeded", "4.00")
        assert refund["authorization_id"] == auth["id"]
        rest = await post(psp, path, "refund-parts-2")  # no amount: what is left
        assert rest.json()["amount"] == "6.00"
        current = (await psp.client.get(f"{AUTHORIZATIONS}/{auth['id']}")).json()
        assert current["refunded_amount"] == "10.00"
        assert [r["amount"] for r in current["refunds"]] == ["4.00", "6.00"]

    async def test_refunding_more_than_captured_is_409(self, psp: PspHarness) -> None:
        auth = await captured(psp, "refund-over", amount="10.00")
        path = f"{AUTHORIZATIONS}/{auth['id']}/refunds"
        over = await post(psp, path, "refund-over-1", {"amount": "10.01"})
        assert error_code(over, 409) == "refund_exceeds_captured"
        await post(psp, path, "refund-over-2", {"amount": "10.00"})
        nothing_left = await post(psp, path, "refund-over-3", {"amount": "0.01"})
        assert error_code(nothing_left, 409) == "refund_exceeds_captured"
        assert (await psp.stats())["refunds"]["total"] == 1

    async def test_refunds_are_bounded_by_a_partial_capture(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "refund-partial-capture", amount="10.00")
        await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "rpc-capture", {"amount": "3.00"})
        response = await post(
            psp, f"{AUTHORIZATIONS}/{auth['id']}/refunds", "rpc-refund", {"amount": "3.01"}
        )
        assert error_code(response, 409) == "refund_exceeds_captured"

    async def test_an_uncaptured_authorization_cannot_be_refunded(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "refund-uncaptured")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/refunds", "refund-unc-1")
        assert error_code(response, 409) == "invalid_state"

    async def test_concurrent_refunds_never_exceed_the_capture(self, psp: PspHarness) -> None:
        auth = await captured(psp, "refund-race", amount="10.00")
        path = f"{AUTHORIZATIONS}/{auth['id']}/refunds"
        responses = await asyncio.gather(
            *(post(psp, path, f"refund-race-{i}", {"amount": "3.00"}) for i in range(10))
        )
        assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 7
        current = (await psp.client.get(f"{AUTHORIZATIONS}/{auth['id']}")).json()
        assert current["refunded_amount"] == "9.00"


class TestIdempotency:
    async def test_the_same_request_replays_the_stored_response(self, psp: PspHarness) -> None:
        first = await psp.authorize("idem-same")
        assert "idempotent-replayed" not in first.headers
        again = await psp.authorize("idem-same")
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        stats = await psp.stats()
        assert stats["authorizations"]["total"] == 1
        assert stats["requests"]["replayed"] == 1

    async def test_the_same_parameters_written_differently_are_the_same_request(
        self, psp: PspHarness
    ) -> None:
        first = await psp.client.post(
            AUTHORIZATIONS,
            content=b'{"amount":"19.9","currency":"EUR","card_token":"tok_ok"}',
            headers={"Idempotency-Key": "idem-normalized"},
        )
        again = await psp.client.post(
            AUTHORIZATIONS,
            content=b'{"card_token": "tok_ok", "currency": "EUR", "amount": "19.90"}',
            headers={"Idempotency-Key": "idem-normalized"},
        )
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]

    async def test_a_reused_key_with_another_body_is_422(self, psp: PspHarness) -> None:
        await psp.authorize("idem-reused", amount="19.99")
        response = await psp.authorize("idem-reused", amount="20.00")
        assert error_code(response, 422) == "idempotency_key_reused"
        assert response.json()["error"]["type"] == "idempotency_error"
        assert await authorization_count(psp) == 1

    async def test_a_key_reused_for_another_operation_is_422(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "idem-cross")
        response = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/capture", "idem-cross")
        assert error_code(response, 422) == "idempotency_key_reused"

    async def test_declines_and_rule_errors_are_replayed_too(self, psp: PspHarness) -> None:
        declined = await psp.authorize("idem-declined", card="tok_declined")
        replayed = await psp.authorize("idem-declined", card="tok_declined")
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.content == declined.content

        auth = await captured(psp, "idem-rule", amount="1.00")
        path = f"{AUTHORIZATIONS}/{auth['id']}/refunds"
        refused = await post(psp, path, "idem-rule-r", {"amount": "2.00"})
        again = await post(psp, path, "idem-rule-r", {"amount": "2.00"})
        assert error_code(again, 409) == "refund_exceeds_captured"
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == refused.content

    async def test_a_replayed_capture_or_refund_does_not_repeat_it(self, psp: PspHarness) -> None:
        auth = await captured(psp, "idem-refund", amount="10.00")
        path = f"{AUTHORIZATIONS}/{auth['id']}/refunds"
        first = await post(psp, path, "idem-refund-r", {"amount": "4.00"})
        again = await post(psp, path, "idem-refund-r", {"amount": "4.00"})
        assert again.json()["id"] == first.json()["id"]
        current = (await psp.client.get(f"{AUTHORIZATIONS}/{auth['id']}")).json()
        assert current["refunded_amount"] == "4.00"

    async def test_a_hundred_concurrent_identical_requests_make_one_authorization(
        self, psp: PspHarness
    ) -> None:
        responses = await asyncio.gather(*(psp.authorize("idem-storm") for _ in range(100)))
        statuses = {r.status_code for r in responses}
        assert statuses <= {201, 409}
        created = [r for r in responses if r.status_code == 201]
        assert len({r.json()["id"] for r in created}) == 1
        assert all(
            error_code(r, 409) == "idempotency_key_in_use"
            for r in responses
            if r.status_code == 409
        )
        stats = await psp.stats()
        assert stats["authorizations"]["total"] == 1
        assert stats["requests"]["by_operation"]["authorize"] == 100

    async def test_a_duplicate_while_the_first_is_in_flight_is_409(self, tmp_path: Path) -> None:
        gate = GatedClock()
        async with running_psp(tmp_path, clock=gate, rng=random.Random(0)) as psp:
            first = asyncio.create_task(psp.authorize("idem-flight", card="tok_slow"))
            await gate.sleeping.wait()
            duplicate = await psp.authorize("idem-flight", card="tok_slow")
            assert error_code(duplicate, 409) == "idempotency_key_in_use"
            assert duplicate.headers["retry-after"] == "1"
            state = await psp.client.get("/v1/idempotency/idem-flight")
            assert state.json() == {"key": "idem-flight", "state": "in_flight"}
            gate.release.set()
            assert (await first).status_code == 201
            replay = await psp.authorize("idem-flight", card="tok_slow")
            assert replay.headers["idempotent-replayed"] == "true"
            assert await authorization_count(psp) == 1

    async def test_two_simulators_on_one_database_make_one_authorization(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        async with (
            running_psp(tmp_path, clock=clock, rng=random.Random(0), worker_id=1) as one,
            running_psp(tmp_path, clock=clock, rng=random.Random(0), worker_id=2) as two,
        ):
            responses = await asyncio.gather(
                *(node.authorize("idem-shared") for _ in range(10) for node in (one, two))
            )
            created = [r for r in responses if r.status_code == 201]
            assert {r.status_code for r in responses} <= {201, 409}
            assert len({r.json()["id"] for r in created}) == 1
            assert await authorization_count(one) == 1

    async def test_the_key_row_is_unique_in_the_database(self, psp: PspHarness) -> None:
        await psp.authorize("idem-unique")
        async with psp.api.database.read_engine.connect() as conn:
            record = await store.find_key(conn, "idem-unique")
        assert record is not None
        with pytest.raises(store.IdempotencyKeyTakenError):
            async with psp.api.database.engine.begin() as conn:
                await store.insert_key(conn, record)


class TestAmbiguousOutcomeLookup:
    async def test_finds_the_authorization_a_key_created(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "lookup-1")
        found = await psp.client.get(AUTHORIZATIONS, params={"idempotency_key": "lookup-1"})
        assert found.status_code == 200
        assert [a["id"] for a in found.json()["data"]] == [auth["id"]]

    async def test_an_unknown_key_finds_nothing(self, psp: PspHarness) -> None:
        found = await psp.client.get(AUTHORIZATIONS, params={"idempotency_key": "lookup-none"})
        assert found.json()["data"] == []
        stored = await psp.client.get("/v1/idempotency/lookup-none")
        assert error_code(stored, 404) == "idempotency_key_not_found"

    async def test_the_stored_response_of_a_key_can_be_read(self, psp: PspHarness) -> None:
        auth = await authorized(psp, "lookup-stored")
        stored = await psp.client.get("/v1/idempotency/lookup-stored")
        body = stored.json()
        assert body["state"] == "completed"
        assert body["operation"] == "authorize"
        assert body["authorization_id"] == auth["id"]
        assert body["response"] == {"status": 201, "body": auth}

    async def test_a_refund_key_finds_its_authorization(self, psp: PspHarness) -> None:
        auth = await captured(psp, "lookup-refund")
        refund = await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/refunds", "lookup-refund-r")
        found = await psp.client.get(AUTHORIZATIONS, params={"idempotency_key": "lookup-refund-r"})
        data = found.json()["data"]
        assert [a["id"] for a in data] == [auth["id"]]
        assert data[0]["refunds"][0]["id"] == refund.json()["id"]
        stored = (await psp.client.get("/v1/idempotency/lookup-refund-r")).json()
        assert stored["refund_id"] == refund.json()["id"]

    async def test_lists_the_newest_authorizations_first_with_their_refunds(
        self, psp: PspHarness, clock: ManualClock
    ) -> None:
        ids = []
        for i in range(3):
            ids.append((await captured(psp, f"list-{i}"))["id"])
            clock.advance(1)
        await post(psp, f"{AUTHORIZATIONS}/{ids[1]}/refunds", "list-refund", {"amount": "1.00"})
        listed = (await psp.client.get(AUTHORIZATIONS, params={"limit": "2"})).json()["data"]
        assert [a["id"] for a in listed] == [ids[2], ids[1]]
        assert [[r["amount"] for r in a["refunds"]] for a in listed] == [[], ["1.00"]]
        bad = await psp.client.get(AUTHORIZATIONS, params={"limit": "0"})
        assert error_code(bad, 400) == "invalid_limit"


class TestFaults:
    async def test_latency_is_added_to_every_api_call_through_the_clock(
        self, psp: PspHarness, clock: ManualClock
    ) -> None:
        put = await psp.client.put("/v1/admin/faults", json={"latency_ms": 250})
        assert put.json() == {"latency_ms": 250, "error_rate": 0.0, "outage": False}
        await authorized(psp, "latency-1")
        await psp.client.get(AUTHORIZATIONS)
        await psp.client.get("/healthz")
        assert clock.sleeps == [0.25, 0.25]

    async def test_an_outage_answers_503_but_health_stays_ok(self, psp: PspHarness) -> None:
        await psp.client.put("/v1/admin/faults", json={"outage": True})
        response = await psp.authorize("outage-1")
        assert error_code(response, 503) == "outage"
        assert response.json()["error"]["type"] == "api_error"
        assert response.headers["retry-after"] == "1"
        assert error_code(await psp.client.get(AUTHORIZATIONS), 503) == "outage"
        assert (await psp.client.get("/healthz")).status_code == 200
        assert await authorization_count(psp) == 0

        cleared = await psp.client.delete("/v1/admin/faults")
        assert cleared.json()["outage"] is False
        assert (await psp.authorize("outage-1")).status_code == 201

    async def test_an_error_rate_fails_calls_before_anything_is_written(
        self, psp: PspHarness
    ) -> None:
        await psp.client.put("/v1/admin/faults", json={"error_rate": 1.0})
        response = await psp.authorize("error-rate-1")
        assert error_code(response, 503) == "injected_error"
        await psp.client.delete("/v1/admin/faults")
        assert (await psp.authorize("error-rate-1")).status_code == 201
        stats = await psp.stats()
        assert stats["authorizations"]["total"] == 1
        assert stats["requests"]["rejected_by_faults"] == 1
        assert stats["requests"]["by_operation"]["authorize"] == 2

    async def test_a_partial_error_rate_fails_that_share_of_calls(self, psp: PspHarness) -> None:
        await psp.client.put("/v1/admin/faults", json={"error_rate": 0.5})
        statuses = [(await psp.client.get(AUTHORIZATIONS)).status_code for _ in range(200)]
        assert 60 < statuses.count(503) < 140  # seeded: the exact count is deterministic

    async def test_faults_are_validated_and_replaced_as_a_whole(self, psp: PspHarness) -> None:
        bad = await psp.client.put("/v1/admin/faults", json={"error_rate": 2})
        assert error_code(bad, 422) == "invalid_request"
        await psp.client.put("/v1/admin/faults", json={"latency_ms": 10, "outage": True})
        await psp.client.put("/v1/admin/faults", json={"error_rate": 0.1})
        current = await psp.client.get("/v1/admin/faults")
        assert current.json() == {"latency_ms": 0, "error_rate": 0.1, "outage": False}


class TestStats:
    async def test_counts_authorizations_by_status_and_requests_by_operation(
        self, psp: PspHarness
    ) -> None:
        auth = await authorized(psp, "stats-1")
        await authorized(psp, "stats-2", card="tok_declined")
        await post(psp, f"{AUTHORIZATIONS}/{auth['id']}/void", None)
        await psp.client.get(f"{AUTHORIZATIONS}/{auth['id']}")
        stats = await psp.stats()
        assert stats["authorizations"] == {
            "total": 2,
            "by_status": {"authorized": 0, "declined": 1, "captured": 0, "voided": 1},
        }
        assert stats["requests"]["total"] == 4
        assert stats["requests"]["by_operation"] == {"authorize": 2, "retrieve": 1, "void": 1}
        assert stats["webhooks"]["url_configured"] is False


class GatedClock(ManualClock):
    """A manual clock whose sleep waits until the test releases it (a request held in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()
        self.release = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await self.release.wait()
        await super().sleep(seconds)
