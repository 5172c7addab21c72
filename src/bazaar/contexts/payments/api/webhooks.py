"""``POST /api/v1/webhooks/psp``: signed PSP events (capabilities §6.8); the signature is the auth.

The event is verified (HMAC over ``t.`` + raw body, ``t`` within ±5 minutes), recorded by
its id and its effect applied in one transaction, then answered 200; a replayed id is 200
with no effect. The effect is applied inline: it is one short transaction. Moving it behind
the transactional outbox (store now, process asynchronously, answer even faster) comes with
the messaging work (capabilities §6.1–6.3); the event table is already its inbox.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import SecretStr
from starlette.responses import Response

from bazaar.api.problems import ProblemError
from bazaar.api.responses import ORJSONResponse
from bazaar.contexts.payments.api import schemas
from bazaar.contexts.payments.api.problems import payments_errors
from bazaar.contexts.payments.api.routes import payment_service
from bazaar.contexts.payments.application.service import PaymentService
from bazaar.contexts.payments.domain import commands as cmds
from bazaar.kernel.clock import Clock
from bazaar.psp import SIGNATURE_HEADER, SignatureError, verify

__all__ = ["webhooks_router"]

webhooks_router = APIRouter(prefix="/api/v1", tags=["payments"])

_SIGNATURE_TITLE = "Invalid webhook signature"
_MAX_ID_LENGTH = 64


def _bad_signature(detail: str) -> ProblemError:
    # 400, not 401: the sender is a machine that signs; there is no challenge to answer.
    return ProblemError(400, "invalid-signature", detail, title=_SIGNATURE_TITLE)


def _malformed(detail: str) -> ProblemError:
    return ProblemError(400, "malformed-body", detail)


def _event(body: bytes) -> tuple[str, str, dict[str, Any]]:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _malformed("The event is not JSON.") from exc
    if not isinstance(event, dict):
        raise _malformed("The event must be a JSON object.")
    event_id, event_type, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= _MAX_ID_LENGTH:
        raise _malformed(f"The event needs an id of 1..{_MAX_ID_LENGTH} characters.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= _MAX_ID_LENGTH:
        raise _malformed(f"The event needs a type of 1..{_MAX_ID_LENGTH} characters.")
    if not isinstance(data, dict):
        raise _malformed("The event needs a data object.")
    return event_id, event_type, data


@webhooks_router.post(
    "/webhooks/psp",
    response_model=schemas.WebhookAccepted,
    responses={400: {"description": "problem+json: bad or missing signature, or not an event"}},
)
async def receive_psp_webhook(
    request: Request, service: Annotated[PaymentService, Depends(payment_service)]
) -> Response:
    """An event from the PSP, authenticated by its ``Psp-Signature`` header."""
    container = request.app.state.container
    secret: SecretStr | None = container.settings.psp_webhook_secret
    clock: Clock = container.clock
    body = await request.body()
    if secret is None:
        raise _bad_signature("No PSP webhook secret is configured, so no event can be verified.")
    try:
        verify(secret.get_secret_value(), request.headers.get(SIGNATURE_HEADER), body, clock.now())
    except SignatureError as exc:
        raise _bad_signature(f"{SIGNATURE_HEADER} rejected: {exc.reason.value}.") from exc
    event_id, event_type, data = _event(body)
    command = cmds.RecordPspEvent(event_id=event_id, event_type=event_type, data=data, payload=body)
    with payments_errors():
        recorded = await service.record_psp_event(command)
    accepted = schemas.WebhookAccepted(id=event_id, duplicate=not recorded)
    return ORJSONResponse(accepted.model_dump(mode="json"))
