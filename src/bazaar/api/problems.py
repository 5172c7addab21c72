"""RFC 9457 problem details: the one way bazaar answers an error (capabilities §1.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response

from bazaar.api.context import current_request_id

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_CONTENT_TYPE",
    "FieldError",
    "ProblemError",
    "problem_response",
    "raw_problem",
]

PROBLEM_BASE = "https://bazaar.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# The slugs of api.md "Problem types" and the title each one carries.
TITLES: dict[str, str] = {
    "validation": "The request is not valid",
    "malformed-body": "The request body is not valid JSON",
    "unsupported-media-type": "Unsupported content type",
    "payload-too-large": "The request body is too large",
    "unauthenticated": "Authentication required",
    "forbidden": "Not allowed",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "conflict": "Conflict",
    "version-mismatch": "The resource has changed",
    "precondition-required": "A precondition is required",
    "idempotency-key-missing": "Idempotency-Key header required",
    "idempotency-key-reused": "Idempotency-Key reused with a different request",
    "idempotency-key-in-flight": "A request with this Idempotency-Key is in flight",
    "rate-limited": "Too many requests",
    "overloaded": "The service is overloaded",
    "dependency-unavailable": "A dependency is unavailable",
    "deadline-exceeded": "The request deadline was exceeded",
    "out-of-stock": "Out of stock",
    "internal": "Internal error",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field at fault: ``field`` is a dotted path into the body or a parameter name."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass(slots=True)
class ProblemError(Exception):
    """Raised in the API layer to answer with a problem; mapped by the app's handlers."""

    status: int
    slug: str
    detail: str | None = None
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.slug}: {self.detail or ''}"


def raw_problem(
    status: int,
    slug: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[FieldError] = (),
    title: str | None = None,
    request_id: str | None = None,
) -> bytes:
    """The serialized problem body (used by pure-ASGI middleware that has no Response)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title or TITLES.get(slug) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or (title or TITLES.get(slug) or HTTPStatus(status).phrase),
        "instance": instance,
        "request_id": request_id if request_id is not None else current_request_id(),
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return orjson.dumps(body)


def problem_response(
    status: int,
    slug: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Response:
    """A problem+json response."""
    return Response(
        raw_problem(status, slug, detail=detail, instance=instance, errors=errors, title=title),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )
