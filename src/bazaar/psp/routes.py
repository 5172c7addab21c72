"""``PspApi``: the simulator's runtime state and its HTTP handlers (routes in ``routes()``)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bazaar.infra.db import Database
from bazaar.kernel.clock import Clock
from bazaar.kernel.ids import SnowflakeGenerator, encode_fixed
from bazaar.psp import store
from bazaar.psp.config import PspConfig
from bazaar.psp.errors import PspRuleError
from bazaar.psp.faults import FaultInjector, Faults, FaultVerdict, RequestStats
from bazaar.psp.idempotency import Effect, IdempotencyGuard, KeyedRequest, Outcome, fingerprint
from bazaar.psp.model import CARD_RULES, Authorization, AuthorizationStatus, CardRule
from bazaar.psp.schemas import (
    AuthorizeParams,
    CaptureParams,
    FaultParams,
    RefundParams,
    VoidParams,
)
from bazaar.psp.views import authorization_view, iso_timestamp, refund_view
from bazaar.psp.web import (
    REPLAYED_HEADER,
    ApiError,
    ErrorKind,
    authenticate,
    json_response,
    optional_idempotency_key,
    parse_body,
    required_idempotency_key,
    rule_error,
)
from bazaar.psp.webhooks import WebhookEvent, WebhookSender

__all__ = ["PSP_ID_EPOCH_MS", "PspApi"]

# 2020-01-01: earlier than bazaar's id epoch so a ManualClock at its default start (late 2023)
# can make ids; 41 bits of milliseconds last until 2089.
PSP_ID_EPOCH_MS = 1_577_836_800_000
_RETRY_AFTER = {"Retry-After": "1"}
_DEFAULT_PAGE, _MAX_PAGE = 20, 100

Handler = Callable[[Request], Awaitable[Response]]
_ModelT = TypeVar("_ModelT", bound=BaseModel)


class PspApi:
    """The simulator: configuration, store, idempotency guard, faults, counters, webhooks.

    Built by ``create_psp_app``; ``start``/``aclose`` run in the app's lifespan.
    """

    def __init__(
        self,
        config: PspConfig,
        database: Database,
        clock: Clock,
        rng: random.Random,
        webhooks: WebhookSender,
    ) -> None:
        self.config = config
        self.database = database
        self.clock = clock
        self.rng = rng
        self.webhooks = webhooks
        self.faults = FaultInjector(clock, rng)
        self.stats = RequestStats()
        self.guard = IdempotencyGuard(database, clock)
        self._ids = SnowflakeGenerator(config.worker_id, clock, epoch_ms=PSP_ID_EPOCH_MS)

    async def start(self) -> None:
        await store.create_tables(self.database.engine)
        await self.webhooks.start()

    async def aclose(self) -> None:
        try:
            await self.webhooks.aclose(grace_s=self.config.webhook_timeout_s)
        finally:
            await self.database.dispose()

    def routes(self) -> list[BaseRoute]:
        api, admin = self._api_call, self._admin_call
        auth_path = "/v1/authorizations/{authorization_id}"
        return [
            Route("/healthz", self.healthz, methods=["GET"], name="healthz"),
            Route("/v1/authorizations", api("authorize", self.authorize), methods=["POST"]),
            Route("/v1/authorizations", api("list", self.list_authorizations), methods=["GET"]),
            Route(auth_path, api("retrieve", self.get_authorization), methods=["GET"]),
            Route(f"{auth_path}/capture", api("capture", self.capture), methods=["POST"]),
            Route(f"{auth_path}/void", api("void", self.void), methods=["POST"]),
            Route(f"{auth_path}/refunds", api("refund", self.refund), methods=["POST"]),
            Route("/v1/idempotency/{key:path}", api("idempotency", self.get_idempotency_key)),
            Route("/v1/admin/faults", admin(self.get_faults), methods=["GET"]),
            Route("/v1/admin/faults", admin(self.put_faults), methods=["PUT"]),
            Route("/v1/admin/faults", admin(self.delete_faults), methods=["DELETE"]),
            Route("/v1/admin/stats", admin(self.get_stats), methods=["GET"]),
        ]

    # --- wrappers: counting, faults, authentication, error answers ---

    def _api_call(self, operation: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.stats.by_operation[operation] += 1
            try:
                verdict = await self.faults.before_call()
                if verdict is not FaultVerdict.PROCEED:
                    self.stats.rejected_by_faults += 1
                    raise ApiError(
                        503,
                        verdict.value,
                        "the processor is unavailable (injected fault)",
                        kind=ErrorKind.API,
                        headers=_RETRY_AFTER,
                    )
                authenticate(request, self.config.api_key)
                return await handler(request)
            except ApiError as exc:
                return exc.response()
            except PspRuleError as exc:
                return rule_error(exc).response()

        return endpoint

    def _admin_call(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                authenticate(request, self.config.api_key)
                return await handler(request)
            except ApiError as exc:
                return exc.response()

        return endpoint

    # --- card operations ---

    async def authorize(self, request: Request) -> Response:
        key = required_idempotency_key(request)
        params = await self._parse(request, AuthorizeParams)
        rule = CARD_RULES.get(params.card_token)
        if rule is None:
            known = ", ".join(sorted(CARD_RULES))
            raise ApiError(422, "unknown_card_token", f"test card tokens are: {known}")
        keyed = self._keyed(key, "authorize", request, params.model_dump(mode="json"))

        async def prepare() -> None:
            await self._card_delay_or_failure(rule)

        async def execute(conn: AsyncConnection) -> Effect:
            return await self._create_authorization(conn, params, rule)

        return self._respond(await self.guard.run(keyed, prepare, execute))

    async def capture(self, request: Request) -> Response:
        key = required_idempotency_key(request)
        params = await self._parse(request, CaptureParams)
        authorization_id = request.path_params["authorization_id"]
        keyed = self._keyed(key, "capture", request, params.model_dump(mode="json"))

        async def execute(conn: AsyncConnection) -> Effect:
            auth = await store.capture(conn, authorization_id, params.amount, self.clock.now())
            view = authorization_view(auth)
            return Effect(200, view, auth.id, events=(("authorization.captured", view),))

        return self._respond(await self.guard.run(keyed, None, execute))

    async def void(self, request: Request) -> Response:
        key = optional_idempotency_key(request)
        params = await self._parse(request, VoidParams)
        authorization_id = request.path_params["authorization_id"]

        async def execute(conn: AsyncConnection) -> Effect:
            auth, voided = await store.void(conn, authorization_id, self.clock.now())
            view = authorization_view(auth)
            events = (("authorization.voided", view),) if voided else ()
            return Effect(200, view, auth.id, events=events)

        if key is not None:
            keyed = self._keyed(key, "void", request, params.model_dump(mode="json"))
            return self._respond(await self.guard.run(keyed, None, execute))
        # Without a key a void is still safe to repeat: voiding a voided authorization is 200.
        async with self.database.engine.begin() as conn:
            effect = await execute(conn)
        return self._respond(Outcome(effect.status, orjson.dumps(effect.body), False, effect))

    async def refund(self, request: Request) -> Response:
        key = required_idempotency_key(request)
        params = await self._parse(request, RefundParams)
        authorization_id = request.path_params["authorization_id"]
        keyed = self._keyed(key, "refund", request, params.model_dump(mode="json"))

        async def execute(conn: AsyncConnection) -> Effect:
            auth, created = await store.refund(
                conn, authorization_id, self._new_id("re"), params.amount, self.clock.now()
            )
            view = refund_view(created)
            return Effect(201, view, auth.id, created.id, events=(("refund.succeeded", view),))

        return self._respond(await self.guard.run(keyed, None, execute))

    # --- reads ---

    async def get_authorization(self, request: Request) -> Response:
        async with self.database.read_engine.connect() as conn:
            view = await _full_view(conn, request.path_params["authorization_id"])
        return json_response(200, orjson.dumps(view))

    async def list_authorizations(self, request: Request) -> Response:
        """``?idempotency_key=K``: the authorization K's request created or acted on, if any
        (how a client that timed out learns whether its request took effect)."""
        key = request.query_params.get("idempotency_key")
        limit = _limit(request.query_params.get("limit"))
        async with self.database.read_engine.connect() as conn:
            if key is None:
                found = await store.list_authorizations(conn, limit)
                refunds = await store.refunds_by_authorization(conn, [a.id for a in found])
                data = [authorization_view(a, refunds[a.id]) for a in found]
            else:
                record = await store.find_key(conn, key)
                data = []
                if record is not None and record.authorization_id is not None:
                    data.append(await _full_view(conn, record.authorization_id))
        return json_response(200, orjson.dumps({"object": "list", "data": data}))

    async def get_idempotency_key(self, request: Request) -> Response:
        key = request.path_params["key"]
        if self.guard.is_in_flight(key):
            return json_response(200, orjson.dumps({"key": key, "state": "in_flight"}))
        record = await self.guard.find(key)
        if record is None:
            raise ApiError(
                404,
                "idempotency_key_not_found",
                "no request with this key took effect; retrying it with the same key is safe",
                kind=ErrorKind.IDEMPOTENCY,
            )
        body = {
            "key": record.key,
            "state": "completed",
            "operation": record.operation,
            "path": record.path,
            "authorization_id": record.authorization_id,
            "refund_id": record.refund_id,
            "created_at": iso_timestamp(record.created_at),
            "response": {
                "status": record.response_status,
                "body": orjson.loads(record.response_body),
            },
        }
        return json_response(200, orjson.dumps(body))

    async def healthz(self, _request: Request) -> Response:
        return json_response(200, orjson.dumps({"status": "ok", "service": "psp-simulator"}))

    # --- admin ---

    async def get_faults(self, _request: Request) -> Response:
        return json_response(200, orjson.dumps(self.faults.faults.as_dict()))

    async def put_faults(self, request: Request) -> Response:
        params = await self._parse(request, FaultParams)
        self.faults.faults = Faults(params.latency_ms, params.error_rate, params.outage)
        return await self.get_faults(request)

    async def delete_faults(self, request: Request) -> Response:
        self.faults.clear()
        return await self.get_faults(request)

    async def get_stats(self, _request: Request) -> Response:
        async with self.database.read_engine.connect() as conn:
            by_status = await store.count_by_status(conn)
            refunds = await store.count_refunds(conn)
        body = {
            "authorizations": {
                "total": sum(by_status.values()),
                "by_status": {status.value: count for status, count in by_status.items()},
            },
            "refunds": {"total": refunds},
            "requests": self.stats.as_dict(),
            "webhooks": self.webhooks.stats(),
        }
        return json_response(200, orjson.dumps(body))

    # --- helpers ---

    async def _parse(self, request: Request, model: type[_ModelT]) -> _ModelT:
        return await parse_body(request, model, self.config.max_body_bytes)

    def _keyed(
        self, key: str, operation: str, request: Request, params: dict[str, Any]
    ) -> KeyedRequest:
        path = request.url.path
        return KeyedRequest(key, operation, path, fingerprint(operation, path, params))

    def _respond(self, outcome: Outcome) -> Response:
        headers: dict[str, str] = {}
        if outcome.replayed:
            self.stats.replayed += 1
            headers[REPLAYED_HEADER] = "true"
        if outcome.effect is not None:
            created_at = iso_timestamp(self.clock.now()) or ""
            for event_type, data in outcome.effect.events:
                event = WebhookEvent(self._new_id("evt"), event_type, created_at, data)
                self.webhooks.send(event)
        return json_response(outcome.status, outcome.body, headers)

    async def _card_delay_or_failure(self, rule: CardRule) -> None:
        if rule.slow:
            await self.clock.sleep(self.config.slow_token_delay_s)
        if rule.flaky and self.rng.random() < self.config.flaky_error_rate:
            raise ApiError(
                503,
                "processor_unavailable",
                "the card network did not answer (tok_flaky); retry with the same key",
                kind=ErrorKind.API,
                headers=_RETRY_AFTER,
            )

    async def _create_authorization(
        self, conn: AsyncConnection, params: AuthorizeParams, rule: CardRule
    ) -> Effect:
        now = self.clock.now()
        if rule.decline_code is not None:
            status = AuthorizationStatus.DECLINED
        elif params.capture:
            status = AuthorizationStatus.CAPTURED
        else:
            status = AuthorizationStatus.AUTHORIZED
        captured = status is AuthorizationStatus.CAPTURED
        auth = Authorization(
            id=self._new_id("auth"),
            status=status,
            amount_minor=params.amount,
            currency=params.currency,
            card_token=params.card_token,
            reference=params.reference,
            decline_code=rule.decline_code,
            captured_minor=params.amount if captured else 0,
            refunded_minor=0,
            created_at=now,
            captured_at=now if captured else None,
        )
        await store.insert_authorization(conn, auth)
        view = authorization_view(auth)
        events = [("authorization.created", view)]
        if captured:
            events.append(("authorization.captured", view))
        return Effect(201, view, auth.id, events=tuple(events))

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{encode_fixed(self._ids.next_id())}"


async def _full_view(conn: AsyncConnection, authorization_id: str) -> dict[str, Any]:
    auth = await store.get_authorization(conn, authorization_id)
    return authorization_view(auth, await store.refunds_of(conn, auth.id))


def _limit(raw: str | None) -> int:
    if raw is None:
        return _DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_PAGE:
        raise ApiError(400, "invalid_limit", f"limit is an integer in 1..{_MAX_PAGE}")
    return int(raw)
