"""``HttpPspClient``: the ``PaymentProvider`` port over the PSP's HTTP API (bazaar.psp speaks it).

One method call is one attempt with the timeout the guard hands it. Failures of the PSP —
5xx, 401/403/429, its "key in flight" 409, connection errors, timeouts — raise
``PspUnavailableError`` (with the ``Retry-After`` it sent); its refusals raise typed
``ProviderRefusalError``s; a decline is an authorization like any other.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
import orjson
from opentelemetry.trace import SpanKind, Status, StatusCode

from bazaar.contexts.payments.application.ports import (
    AuthorizationLookup,
    AuthorizationRequest,
    ProviderAuthorization,
    ProviderAuthorizationStatus,
    ProviderKeyState,
    ProviderRefund,
    RefundLookup,
)
from bazaar.contexts.payments.domain.errors import (
    PaymentRejectedError,
    ProviderKeyReusedError,
    ProviderRefusalError,
    ProviderRuleError,
    PspUnavailableError,
)
from bazaar.kernel.money import Money, MoneyError
from bazaar.kernel.observability import tracing

__all__ = ["HttpPspClient"]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# The PSP's body fields → the fields of bazaar's request that carried them.
_FIELDS = {"amount": "amount.amount", "currency": "amount.currency", "card_token": "card_token"}


class HttpPspClient:
    """A pooled ``httpx.AsyncClient`` on ``base_url`` sending ``Authorization: Bearer <key>``.

    ``transport`` replaces the network (an ``httpx.ASGITransport`` around the simulator in
    tests). An empty ``base_url`` means no PSP is configured: every call fails as unavailable.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 32,
    ) -> None:
        headers = {"user-agent": "bazaar"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._configured = bool(base_url)
        self._client = httpx.AsyncClient(
            base_url=base_url or "http://psp.invalid",
            headers=headers,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the port ---

    async def authorize(
        self, request: AuthorizationRequest, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        money = request.amount.to_json()
        body: dict[str, Any] = {**money, "card_token": request.card_token}
        body["capture"] = request.capture
        if request.reference is not None:
            body["reference"] = request.reference
        response = await self._send(
            "POST", "/v1/authorizations", timeout_s, json=body, key=idempotency_key
        )
        if response.status_code != 201:
            raise _refusal(response.status_code, _json(response), idempotency_key)
        return _authorization(_json(response))

    async def capture(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        # No amount: the whole authorized amount (the simulator allows one capture only).
        path = f"/v1/authorizations/{authorization_id}/capture"
        return await self._act_on(path, idempotency_key, timeout_s)

    async def void(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        path = f"/v1/authorizations/{authorization_id}/void"
        return await self._act_on(path, idempotency_key, timeout_s)

    async def refund(
        self, authorization_id: str, amount: Money, *, idempotency_key: str, timeout_s: float
    ) -> ProviderRefund:
        path = f"/v1/authorizations/{authorization_id}/refunds"
        body = {"amount": amount.to_json()["amount"]}
        response = await self._send("POST", path, timeout_s, json=body, key=idempotency_key)
        if response.status_code != 201:
            raise _refusal(response.status_code, _json(response), idempotency_key)
        return _refund(_json(response))

    async def find_authorization(
        self, idempotency_key: str, *, timeout_s: float
    ) -> AuthorizationLookup:
        state, status, body = await self._lookup(idempotency_key, timeout_s)
        if status is None or body is None:
            return AuthorizationLookup(state)
        if _succeeded(status):  # 201 for an authorize, 200 for a capture or void
            return AuthorizationLookup(state, authorization=_authorization(body))
        return AuthorizationLookup(state, refusal=_refusal(status, body, idempotency_key))

    async def find_refund(self, idempotency_key: str, *, timeout_s: float) -> RefundLookup:
        state, status, body = await self._lookup(idempotency_key, timeout_s)
        if status is None or body is None:
            return RefundLookup(state)
        if status == 201:
            return RefundLookup(state, refund=_refund(body))
        return RefundLookup(state, refusal=_refusal(status, body, idempotency_key))

    # --- HTTP ---

    async def _act_on(
        self, path: str, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        response = await self._send("POST", path, timeout_s, json={}, key=idempotency_key)
        if not _succeeded(response.status_code):
            raise _refusal(response.status_code, _json(response), idempotency_key)
        return _authorization(_json(response))

    async def _lookup(
        self, idempotency_key: str, timeout_s: float
    ) -> tuple[ProviderKeyState, int | None, dict[str, Any] | None]:
        response = await self._send("GET", f"/v1/idempotency/{idempotency_key}", timeout_s)
        if response.status_code == 404:
            return ProviderKeyState.UNUSED, None, None
        found = _json(response)
        if response.status_code != 200:
            raise _refusal(response.status_code, found, idempotency_key)
        if found.get("state") != "completed":
            return ProviderKeyState.IN_FLIGHT, None, None
        stored = found.get("response")
        if not isinstance(stored, dict) or not isinstance(stored.get("body"), dict):
            raise PspUnavailableError("malformed idempotency record")
        return ProviderKeyState.COMPLETED, int(stored.get("status", 0)), stored["body"]

    async def _send(
        self,
        method: str,
        path: str,
        timeout_s: float,
        *,
        json: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        if not self._configured:
            raise PspUnavailableError("no PSP configured (psp_url is empty)")
        content = None if json is None else orjson.dumps(json)
        with tracing.tracer().start_as_current_span(
            f"psp {method} {_path_template(path)}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.path": path, "peer.service": "psp"},
            # Failures are named by type below; their text is the PSP's, not ours to export.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            # The PSP may continue the trace: it gets this span's traceparent.
            headers = tracing.trace_headers()
            if key is not None:
                headers[IDEMPOTENCY_KEY_HEADER] = key
            if content is not None:
                headers["content-type"] = "application/json"
            try:
                response = await self._client.request(
                    method, path, content=content, headers=headers, timeout=timeout_s
                )
            except httpx.TimeoutException as exc:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
                raise PspUnavailableError(f"timeout ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise PspUnavailableError(f"transport error ({type(exc).__name__})") from exc
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        status = response.status_code
        code = _error_code(response)
        # 401/403: our credentials are wrong — a failure of the integration, not an answer
        # about the payment; 409 idempotency_key_in_use: an earlier attempt is still running.
        if status >= 500 or status in (401, 403, 429) or code == "idempotency_key_in_use":
            raise PspUnavailableError(f"HTTP {status} {code or ''}".strip(), _retry_after(response))
        return response


# Path segments holding ids or keys, replaced in span names (which must stay few).
_ID_SEGMENT = re.compile(r"/(?!v[0-9]+(?:/|$))[^/]*[0-9][^/]*")


def _path_template(path: str) -> str:
    """``/v1/authorizations/{id}/capture`` for ``/v1/authorizations/auth_9f2/capture``."""
    return _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


def _succeeded(status: int) -> bool:
    return 200 <= status < 300


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise PspUnavailableError(f"HTTP {response.status_code} with a non-JSON body") from exc
    if not isinstance(body, dict):
        raise PspUnavailableError(f"HTTP {response.status_code} with a non-object body")
    return body


def _error_code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        error = orjson.loads(response.content).get("error", {})
    except (orjson.JSONDecodeError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(raw)
    except ValueError:
        return None  # an HTTP-date, or nothing: let the guard's backoff decide
    return seconds if seconds >= 0 else None


def _refusal(status: int, body: dict[str, Any], idempotency_key: str) -> ProviderRefusalError:
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or f"http_{status}")
    message = str(error.get("message") or "")
    if code == "idempotency_key_reused":
        return ProviderKeyReusedError(idempotency_key)
    if status == 422:
        details = error.get("details") or []
        first = details[0].get("field") if details and isinstance(details[0], dict) else None
        field = _FIELDS.get(str(first), "amount.amount")
        if code == "unknown_card_token":
            field = "card_token"
        return PaymentRejectedError(field, code, message)
    return ProviderRuleError(code, message)


def _money(body: dict[str, Any]) -> Money:
    try:
        return Money.of(str(body["amount"]), str(body["currency"]))
    except (KeyError, MoneyError) as exc:
        raise PspUnavailableError(f"malformed amount in the PSP's answer: {exc}") from exc


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def _authorization(body: dict[str, Any]) -> ProviderAuthorization:
    try:
        return ProviderAuthorization(
            id=str(body["id"]),
            status=ProviderAuthorizationStatus(body["status"]),
            amount=_money(body),
            decline_code=body.get("decline_code"),
            captured_at=_timestamp(body.get("captured_at")),
        )
    except (KeyError, ValueError) as exc:
        raise PspUnavailableError(f"malformed authorization in the PSP's answer: {exc}") from exc


def _refund(body: dict[str, Any]) -> ProviderRefund:
    try:
        return ProviderRefund(
            id=str(body["id"]),
            authorization_id=str(body["authorization_id"]),
            amount=_money(body),
        )
    except KeyError as exc:
        raise PspUnavailableError(f"malformed refund in the PSP's answer: {exc}") from exc
