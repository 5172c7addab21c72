"""``HttpPspClient``: what it sends, and how the PSP's answers map to results and errors.

Driven through httpx's own ``MockTransport`` (the fake httpx ships); the client against the
real simulator is covered end to end in tests/e2e/payments.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest

from bazaar.contexts.payments.adapters import HttpPspClient
from bazaar.contexts.payments.application.ports import (
    AuthorizationRequest,
    ProviderAuthorizationStatus,
    ProviderKeyState,
)
from bazaar.contexts.payments.domain.errors import (
    PaymentRejectedError,
    ProviderKeyReusedError,
    ProviderRuleError,
    PspUnavailableError,
)
from bazaar.kernel.money import Money

AUTHORIZATION = {
    "id": "auth_1",
    "status": "captured",
    "amount": "19.99",
    "currency": "EUR",
    "decline_code": None,
    "captured_at": "2030-01-01T00:00:00.000Z",
}
REQUEST = AuthorizationRequest(amount=Money.of("19.99", "EUR"), card_token="tok_ok", reference="r")


def client(handler: Callable[[httpx.Request], httpx.Response]) -> HttpPspClient:
    return HttpPspClient(
        base_url="http://psp.test", api_key="sk", transport=httpx.MockTransport(handler)
    )


def error(status: int, code: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code, **extra}})


class TestAuthorize:
    async def test_sends_the_key_the_credentials_and_a_decimal_string(self) -> None:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(201, json=AUTHORIZATION)

        psp = client(handler)
        found = await psp.authorize(REQUEST, idempotency_key="k" * 64, timeout_s=1.0)
        await psp.aclose()
        assert found.status is ProviderAuthorizationStatus.CAPTURED
        assert found.amount == Money.of("19.99", "EUR")
        assert found.captured_at is not None
        [request] = seen
        assert request.headers["idempotency-key"] == "k" * 64
        assert request.headers["authorization"] == "Bearer sk"
        assert orjson.loads(request.content) == {
            "amount": "19.99",
            "currency": "EUR",
            "card_token": "tok_ok",
            "capture": True,
            "reference": "r",
        }

    @pytest.mark.parametrize(
        ("response", "retry_after"),
        [
            (error(503, "outage", ), None),
            (httpx.Response(503, headers={"retry-after": "7"}), 7.0),
            (error(409, "idempotency_key_in_use"), None),
            (error(401, "invalid_api_key"), None),
            (httpx.Response(201, content=b"not json"), None),
        ],
    )  # fmt: skip
    async def test_failures_of_the_psp_are_unavailable(
        self, response: httpx.Response, retry_after: float | None
    ) -> None:
        with pytest.raises(PspUnavailableError) as raised:
            await client(lambda _: response).authorize(REQUEST, idempotency_key="k", timeout_s=1)
        assert raised.value.retry_after_s == retry_after

    @pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
    async def test_transport_errors_and_timeouts_are_unavailable(self, exc: Exception) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc

        with pytest.raises(PspUnavailableError):
            await client(handler).authorize(REQUEST, idempotency_key="k", timeout_s=1)

    @pytest.mark.parametrize(
        ("response", "expected", "field"),
        [
            (error(422, "unknown_card_token"), PaymentRejectedError, "card_token"),
            (error(422, "invalid_request", details=[{"field": "amount"}]), PaymentRejectedError,
             "amount.amount"),
            (error(422, "idempotency_key_reused"), ProviderKeyReusedError, None),
            (error(409, "refund_exceeds_captured"), ProviderRuleError, None),
        ],
    )  # fmt: skip
    async def test_refusals_are_typed_answers(
        self, response: httpx.Response, expected: type[Exception], field: str | None
    ) -> None:
        with pytest.raises(expected) as raised:
            await client(lambda _: response).authorize(REQUEST, idempotency_key="k", timeout_s=1)
        if field is not None:
            assert getattr(raised.value, "field", None) == field

    async def test_without_a_configured_url_every_call_is_unavailable(self) -> None:
        psp = HttpPspClient(base_url="", api_key=None)
        with pytest.raises(PspUnavailableError, match="psp_url"):
            await psp.authorize(REQUEST, idempotency_key="k", timeout_s=1)
        await psp.aclose()


class TestLookups:
    @pytest.mark.parametrize(
        ("response", "state"),
        [
            (error(404, "idempotency_key_not_found"), ProviderKeyState.UNUSED),
            (httpx.Response(200, json={"state": "in_flight"}), ProviderKeyState.IN_FLIGHT),
        ],
    )
    async def test_unused_and_in_flight_keys(
        self, response: httpx.Response, state: ProviderKeyState
    ) -> None:
        found = await client(lambda _: response).find_authorization("k", timeout_s=1)
        assert (found.state, found.authorization, found.refusal) == (state, None, None)

    async def test_a_completed_key_carries_the_stored_answer(self) -> None:
        stored = {"state": "completed", "response": {"status": 201, "body": AUTHORIZATION}}
        found = await client(lambda _: httpx.Response(200, json=stored)).find_authorization(
            "k", timeout_s=1
        )
        assert found.state is ProviderKeyState.COMPLETED
        assert found.authorization is not None
        assert found.authorization.id == "auth_1"

    async def test_a_stored_refusal_is_returned_not_raised(self) -> None:
        body = {"error": {"code": "refund_exceeds_captured", "message": "no"}}
        stored = {"state": "completed", "response": {"status": 409, "body": body}}
        found = await client(lambda _: httpx.Response(200, json=stored)).find_refund(
            "k", timeout_s=1
        )
        assert found.refund is None
        assert isinstance(found.refusal, ProviderRuleError)
        assert found.refusal.code == "refund_exceeds_captured"

    async def test_a_capture_keys_stored_200_is_the_authorization(self) -> None:
        stored = {"state": "completed", "response": {"status": 200, "body": AUTHORIZATION}}
        found = await client(lambda _: httpx.Response(200, json=stored)).find_authorization(
            "k", timeout_s=1
        )
        assert found.authorization is not None
        assert found.authorization.status is ProviderAuthorizationStatus.CAPTURED


class TestCaptureAndVoid:
    @pytest.mark.parametrize(("operation", "status"), [("capture", "captured"), ("void", "voided")])
    async def test_posts_an_empty_body_with_the_key_and_reads_the_authorization(
        self, operation: str, status: str
    ) -> None:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={**AUTHORIZATION, "status": status})

        psp = client(handler)
        call = psp.capture if operation == "capture" else psp.void
        found = await call("auth_1", idempotency_key="c" * 64, timeout_s=1.0)
        await psp.aclose()
        assert found.status.value == status
        [request] = seen
        assert (request.method, request.url.path) == (
            "POST",
            f"/v1/authorizations/auth_1/{operation}",
        )
        assert request.headers["idempotency-key"] == "c" * 64
        assert orjson.loads(request.content) == {}

    @pytest.mark.parametrize("code", ["already_captured", "invalid_state"])
    async def test_a_state_refusal_is_a_rule_error(self, code: str) -> None:
        with pytest.raises(ProviderRuleError) as raised:
            await client(lambda _: error(409, code)).void(
                "auth_1", idempotency_key="k", timeout_s=1
            )
        assert raised.value.code == code

    async def test_a_key_still_in_flight_is_unavailable(self) -> None:
        response = error(409, "idempotency_key_in_use")
        with pytest.raises(PspUnavailableError):
            await client(lambda _: response).capture("auth_1", idempotency_key="k", timeout_s=1)
