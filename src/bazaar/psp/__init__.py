"""The PSP simulator: a stand-in card processor that bazaar reaches only over HTTP.

A separate ASGI app with its own SQLite store (``create_psp_app(config)``; ``bazaar psp``
serves it alone). It imports nothing of bazaar but ``bazaar.kernel`` and ``bazaar.infra.db``,
so it can be split out. Amounts are decimal strings (``"19.99"``), currencies ISO codes.
Every ``/v1`` call needs ``Authorization: Bearer <api_key>`` (401 otherwise).

=======  ====================================  ===============================================
Method   Path                                  Answer
=======  ====================================  ===============================================
POST     /v1/authorizations                    Idempotency-Key required. ``{amount, currency,
                                               card_token, reference?, capture?}`` → 201
                                               authorization (authorized | declined |
                                               captured); 422 unknown token
POST     /v1/authorizations/{id}/capture       Idempotency-Key required. ``{amount?}`` → 200
                                               captured; 409 not authorized / over amount
POST     /v1/authorizations/{id}/void          Idempotency-Key optional. → 200 voided (again
                                               200 if already voided); 409 after capture
POST     /v1/authorizations/{id}/refunds       Idempotency-Key required. ``{amount?}`` → 201
                                               refund; 409 ``refund_exceeds_captured``
GET      /v1/authorizations/{id}               200 current state with captured/refunded totals
GET      /v1/authorizations?idempotency_key=K  200 ``{data: [...]}``: what K's request touched
GET      /v1/idempotency/{key}                 200 stored response or ``in_flight``; 404 never
                                               took effect (a retry with that key is safe)
GET      /healthz                              200, no key, even during an outage
GET      /v1/admin/faults                      current faults
PUT      /v1/admin/faults                      ``{latency_ms?, error_rate?, outage?}``
DELETE   /v1/admin/faults                      clear faults
GET      /v1/admin/stats                       authorizations per status, requests received
=======  ====================================  ===============================================

Test card tokens: ``tok_ok`` approves; ``tok_declined`` declines (``card_declined``);
``tok_insufficient`` declines (``insufficient_funds``); ``tok_slow`` answers after
``slow_token_delay_s``; ``tok_flaky`` answers 503 with probability ``flaky_error_rate`` and
creates nothing.

Idempotency (see ``bazaar.psp.idempotency``): same key and request → the stored status and
body with ``Idempotent-Replayed: true``; same key, other request → 422; while in flight →
409. Errors are ``{"error": {"type", "code", "message"}}``. Signed webhooks
(``authorization.created``, ``authorization.captured``, ``authorization.voided``,
``refund.succeeded``) go to ``webhook_url`` with ``Psp-Signature: t=…,v1=…``; receivers
check them with ``bazaar.psp.signing.verify``. Full reference: ``src/bazaar/psp/README.md``.
"""

from __future__ import annotations

from bazaar.psp.app import create_psp_app, psp_lifespan, psp_runtime
from bazaar.psp.config import PspConfig, sqlite_url_in
from bazaar.psp.errors import (
    AuthorizationNotFoundError,
    CaptureExceedsAuthorizedError,
    InvalidStateError,
    PspError,
    PspRuleError,
    RefundExceedsCapturedError,
    SignatureError,
    SignatureFailure,
)
from bazaar.psp.faults import Faults
from bazaar.psp.model import CARD_RULES, AuthorizationStatus, CardRule, DeclineCode
from bazaar.psp.routes import PspApi
from bazaar.psp.signing import SIGNATURE_HEADER, sign, verify
from bazaar.psp.webhooks import DeliveryAttempt, WebhookEvent, WebhookSender

__all__ = [
    "CARD_RULES",
    "SIGNATURE_HEADER",
    "AuthorizationNotFoundError",
    "AuthorizationStatus",
    "CaptureExceedsAuthorizedError",
    "CardRule",
    "DeclineCode",
    "DeliveryAttempt",
    "Faults",
    "InvalidStateError",
    "PspApi",
    "PspConfig",
    "PspError",
    "PspRuleError",
    "RefundExceedsCapturedError",
    "SignatureError",
    "SignatureFailure",
    "WebhookEvent",
    "WebhookSender",
    "create_psp_app",
    "psp_lifespan",
    "psp_runtime",
    "sign",
    "sqlite_url_in",
    "verify",
]
