"""``create_app(container)``: the FastAPI application, its middleware stack and its routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bazaar import __version__
from bazaar.api import admin, dlq, ops
from bazaar.api.client_ip import ClientIpResolver
from bazaar.api.errors import install_exception_handlers
from bazaar.api.login_throttle import LoginThrottle
from bazaar.api.middleware import (
    AllowListCorsMiddleware,
    BodyLimitMiddleware,
    CompressionMiddleware,
    ContentTypeMiddleware,
    DeadlineMiddleware,
    DeprecationMiddleware,
    LoadSheddingMiddleware,
    RateLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    TelemetryMiddleware,
    UnhandledErrorMiddleware,
)
from bazaar.api.ratelimits import RateLimitPolicies
from bazaar.api.responses import ORJSONResponse
from bazaar.api.routers import API_ROUTERS, DEPRECATED_ROUTES
from bazaar.api.security import CallerIdentifier
from bazaar.bootstrap import Container
from bazaar.kernel.observability.listeners import MetricsListener
from bazaar.kernel.shedding import AdmissionController

__all__ = ["create_app"]


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    """Build the API application around an already-built container.

    Args:
        container: the composition root's output.
        own_container: close the container when the app's lifespan ends (the CLI's
            ``bazaar api`` worker processes own theirs; tests and ``bazaar up`` do not).

    Returns:
        The ASGI application.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Checkout sagas and the catalog's cache upkeep run in the API processes.
        container.start_api_work()
        try:
            yield
        finally:
            # The server has drained its requests; sagas in flight get the same grace.
            await container.stop_api_work(container.settings.shutdown_grace_s)
            if own_container:
                await container.aclose()

    app = FastAPI(
        title="bazaar",
        version=__version__,
        summary="A multi-tenant commerce backend built from the backend system-design playbook.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    install_exception_handlers(app)
    app.include_router(ops.router)
    app.include_router(admin.router)
    app.include_router(dlq.router)
    for router in API_ROUTERS:
        app.include_router(router)

    settings = container.settings
    # One admission bound per process (capabilities §3.4); the console reads its snapshot.
    admission = AdmissionController(
        settings.max_in_flight, listener=MetricsListener(container.metrics)
    )
    app.state.admission = admission
    client_ip = ClientIpResolver(settings.trusted_proxies)
    rate_limits = RateLimitPolicies(
        settings.effective_rate_limits,
        container.rate_limit_store,
        container.clock,
        listener=MetricsListener(container.metrics),
        shared=container.redis is not None,
    )
    app.state.client_ip = client_ip
    app.state.rate_limits = rate_limits
    app.state.login_throttle = LoginThrottle(rate_limits)
    # add_middleware wraps: the last added is the outermost. Order, outside in:
    # request id → telemetry → CORS (when origins are set) → compression → unhandled errors
    # → security headers → shedding → deadline → rate limit → body limit → content type
    # → deprecation. Shedding answers before any per-request cost
    # (no timer, no context variable) yet inside request id and telemetry, so its 503 is
    # counted and carries the id; the rate limit authenticates the caller (a database read)
    # under the deadline; the deadline sees every body chunk through the body limit's reads.
    # CORS answers a preflight before any admission, limit or authentication work, and
    # marks every answer from below (a 429, 503 or 500 problem too) so a page can read it;
    # preflights, like the 500s of the error handler, pass no security-header middleware,
    # and need none: nothing renders them. Compression is outside the error handler so
    # every body from below passes through it, and inside telemetry so its CPU time is in
    # the request's duration. Deprecation marks routed answers only, so it sits innermost.
    app.add_middleware(DeprecationMiddleware, routes=DEPRECATED_ROUTES)
    app.add_middleware(ContentTypeMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware,
        policies=rate_limits,
        subject=CallerIdentifier(lambda: container.identity, client_ip),
    )
    app.add_middleware(
        DeadlineMiddleware, default_timeout_s=settings.request_timeout_s, clock=container.clock
    )
    app.add_middleware(LoadSheddingMiddleware, controller=admission, retry_after_s=1)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(CompressionMiddleware)
    if settings.cors_origins:
        app.add_middleware(AllowListCorsMiddleware, origins=settings.cors_origins)
    app.add_middleware(TelemetryMiddleware, metrics=container.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
