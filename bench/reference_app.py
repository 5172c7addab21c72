"""The bare reference for ``bench/http_baseline.py``: a Starlette app, one JSON endpoint per path.

targets.md measures the API against "a bare Starlette JSON endpoint on the same server
settings". This is that endpoint: no middleware, no dependency injection, no database, the
stock :class:`starlette.responses.JSONResponse`. The benchmark serves it with the uvicorn CLI
using the settings ``bazaar up`` gives its own ``uvicorn.Config`` (one process, loopback,
lifespan on, no access log, no server header, no proxy headers) and the event loop and HTTP
parser the bazaar process is seen to run (``bazaar up`` runs uvicorn inside its own
``asyncio.run()``, so today that is the stdlib asyncio loop with httptools)::

    python -m uvicorn reference_app:app --app-dir bench --host 127.0.0.1 --port 8001 \\
        --loop asyncio --http httptools --lifespan on --no-access-log --no-server-header \\
        --no-proxy-headers --log-level warning

``/me`` answers a fixed object of the shape and size of bazaar's ``GET /api/v1/me`` body, so
both sides write about as many bytes per response; it ignores the bearer token it is sent.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["ME_BODY", "PRODUCT_BODY", "app"]

# The shape of bazaar's /me answer (``{"id", "email", "role", "tenant_id"}``, snowflake ids as
# strings) and, for the benchmark's user, the same byte count; the benchmark records both.
ME_BODY: dict[str, object] = {
    "id": "384204280031424513",
    "email": "bench-admin@example.com",
    "role": "admin",
    "tenant_id": "384204280031424512",
}


# The shape of bazaar's product answer (api.md "Product") at about the byte count of the
# product ``bench/read_path.py`` creates; the benchmark records both sizes.
PRODUCT_BODY: dict[str, object] = {
    "id": "384204280031424520",
    "tenant_id": "384204280031424512",
    "name": "Bench teapot",
    "description": "A cast-iron teapot, enamelled inside; holds 1.2 litres.",
    "price": {"amount": "24.90", "currency": "EUR"},
    "category": "kitchen",
    "attributes": {"colour": "black", "litres": 1.2},
    "status": "active",
    "version": 1,
    "created_at": "2026-11-26T12:00:00.000000Z",
    "updated_at": "2026-11-26T12:00:00.000000Z",
    "stock": {"available": 100, "reserved": 0},
}


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(_request: Request) -> JSONResponse:
    return JSONResponse(ME_BODY)


async def product(_request: Request) -> JSONResponse:
    return JSONResponse(PRODUCT_BODY)


app = Starlette(routes=[Route("/healthz", healthz), Route("/me", me), Route("/product", product)])
