"""``create_psp_app``: the simulator as its own Starlette application, and its lifespan."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bazaar.infra.db import create_database
from bazaar.kernel.clock import Clock, SystemClock
from bazaar.psp.config import PspConfig
from bazaar.psp.routes import PspApi
from bazaar.psp.web import ErrorKind, error_body, json_response
from bazaar.psp.webhooks import WebhookSender

__all__ = ["create_psp_app", "psp_lifespan", "psp_runtime"]

logger = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_psp_app(
    config: PspConfig,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Build a PSP simulator; nothing is connected until its lifespan starts.

    Args:
        config: store, credentials, webhook target, token timings.
        clock: time and sleep (token delays, injected latency, webhook backoff); a
            ``ManualClock`` in tests.
        rng: the draws of ``tok_flaky`` and of the ``error_rate`` fault; seeded in tests.
        webhook_transport: the httpx transport webhooks are sent through (an
            ``httpx.ASGITransport`` around a receiving app, or a ``MockTransport``, in tests).

    Returns:
        The ASGI app. Its lifespan (``psp_lifespan``) creates the tables and starts the
        webhook sender; httpx's ASGITransport does not run lifespans, so tests enter
        ``async with psp_lifespan(app):`` themselves.
    """
    database = create_database(config.database_url)
    clock = clock or SystemClock()
    webhooks = WebhookSender(
        config.webhook_url,
        config.webhook_secret,
        clock,
        timeout_s=config.webhook_timeout_s,
        max_attempts=config.webhook_max_attempts,
        backoff_s=config.webhook_backoff_s,
        transport=webhook_transport,
    )
    # An unseeded Random is the point outside tests: tok_flaky should look random.
    api = PspApi(config, database, clock, rng or random.Random(), webhooks)
    app = Starlette(
        routes=api.routes(),
        lifespan=psp_lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _unhandled_error},
    )
    app.state.psp = api
    return app


def psp_runtime(app: Starlette) -> PspApi:
    """The simulator behind an app made by ``create_psp_app`` (its stores, stats, sender)."""
    api = getattr(app.state, "psp", None)
    if not isinstance(api, PspApi):
        raise TypeError("not an app made by bazaar.psp.create_psp_app")
    return api


@asynccontextmanager
async def psp_lifespan(app: Starlette) -> AsyncIterator[None]:
    """Create the tables and start the webhook sender; on exit, stop both.

    Pending webhook deliveries get ``webhook_timeout_s`` to finish, then are cancelled.
    """
    api = psp_runtime(app)
    await api.start()
    try:
        yield
    finally:
        await api.aclose()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    body = error_body(ErrorKind.INVALID_REQUEST, code, str(exc.detail))
    return json_response(exc.status_code, body, exc.headers)


async def _unhandled_error(_request: Request, exc: Exception) -> Response:
    logger.error("psp simulator: unhandled %s", type(exc).__name__, exc_info=exc)
    body = error_body(ErrorKind.API, "internal_error", "the simulator failed; see its log")
    return json_response(500, body)
