"""Operational endpoints: liveness, readiness, metrics (capabilities §4.5, §10.2)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from bazaar.api.responses import ORJSONResponse
from bazaar.bootstrap import Container

__all__ = ["router"]

router = APIRouter(include_in_schema=True, tags=["ops"])

_READY_CHECK_TIMEOUT_S = 2.0


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


@router.get("/healthz", summary="The process is alive")
async def healthz() -> ORJSONResponse:
    return ORJSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


@router.get("/readyz", summary="The process can serve traffic")
async def readyz(request: Request) -> ORJSONResponse:
    container = _container(request)
    checks: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.wait_for(container.database.ping(), _READY_CHECK_TIMEOUT_S)
        checks["database"] = {"ok": True, "dialect": container.database.dialect}
    except (TimeoutError, Exception) as exc:  # readiness reports, it never raises
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    # An open breaker degrades one feature; the process still serves everything else, so
    # it is reported here without failing readiness.
    open_breakers = [
        s.name for s in await container.breakers.snapshots() if s.state.name != "CLOSED"
    ]
    checks["breakers"] = {"ok": True, "not_closed": open_breakers}
    draining = container.lifecycle.draining
    ready = all(check["ok"] for check in checks.values()) and not draining
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if draining:
        body["status"] = "draining"
    headers = {"cache-control": "no-store"}
    if not ready:
        headers["retry-after"] = "1"
    return ORJSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    container = _container(request)
    await container.refresh_gauges()
    return Response(container.metrics.render(), media_type=CONTENT_TYPE_LATEST)
