"""Exception handlers: every error leaves as problem+json (capabilities §1.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from bazaar.api.problems import FieldError, ProblemError, problem_response
from bazaar.kernel.resilience import DependencyUnavailableError

__all__ = ["field_errors", "install_exception_handlers"]

_STATUS_SLUGS = {
    400: "malformed-body",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "version-mismatch",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    428: "precondition-required",
    429: "rate-limited",
    503: "dependency-unavailable",
    504: "deadline-exceeded",
}

# Pydantic error types that mean "the bytes are not JSON", not "the JSON is wrong".
_MALFORMED = frozenset({"json_invalid", "json_type"})


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic/FastAPI error dicts → field errors with dotted paths (``items.0.quantity``).

    The first element of a request-validation location is where the value came from
    (``body``, ``query``, ``path``, ``header``); it is kept for parameters and dropped for the
    body, so body fields read as they are written in the JSON.
    """
    result: list[FieldError] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        field = ".".join(loc) or "body"
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        result.append(FieldError(field=field, message=message, code=str(error.get("type"))))
    return result


async def _problem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.slug,
        detail=exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
        title=exc.title,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") in _MALFORMED for e in errors) or _body_not_object(errors):
        return problem_response(
            400,
            "malformed-body",
            detail="The request body could not be parsed as a JSON object.",
            instance=request.url.path,
        )
    return problem_response(
        422,
        "validation",
        detail="One or more fields are invalid.",
        instance=request.url.path,
        errors=field_errors(errors),
    )


def _body_not_object(errors: Sequence[Any]) -> bool:
    # A JSON body that parsed but is not an object (e.g. ``[1]`` or ``"x"``) fails at the
    # root with a model_attributes_type error; that is a malformed body, not a field error.
    return any(
        tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type"
        for e in errors
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug = _STATUS_SLUGS.get(exc.status_code, "internal" if exc.status_code >= 500 else "conflict")
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404:
        detail = "No resource at this path."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on this resource."
    return problem_response(
        exc.status_code,
        slug,
        detail=detail,
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


async def _dependency_unavailable(request: Request, exc: Exception) -> Response:
    # Mapped here, once, for every context: a guard that gives up on a dependency (breaker
    # open, bulkhead full, attempts failed) means "try again later", and api.md requires
    # every such 503 to say when. (Deadline overruns are answered 504 by DeadlineMiddleware.)
    assert isinstance(exc, DependencyUnavailableError)
    return problem_response(
        503,
        "dependency-unavailable",
        detail=f"A service this request needs ({exc.dependency}) is temporarily unavailable.",
        instance=request.url.path,
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
    )


async def _pool_exhausted(request: Request, exc: Exception) -> Response:
    # Every database connection stayed busy for the pool timeout (on SQLite: the one writer,
    # under a rush of writes). Overload, not a bug: say so and when to retry, as shedding
    # does, instead of a 500.
    return problem_response(
        503,
        "overloaded",
        detail="The database is busy; retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(DependencyUnavailableError, _dependency_unavailable)
    app.add_exception_handler(PoolTimeoutError, _pool_exhausted)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
