"""The simulator's HTTP conventions: JSON errors, bearer authentication, body parsing."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from bazaar.psp.errors import AuthorizationNotFoundError, PspError, PspRuleError

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "REPLAYED_HEADER",
    "ApiError",
    "ErrorKind",
    "authenticate",
    "error_body",
    "json_response",
    "optional_idempotency_key",
    "parse_body",
    "read_body",
    "required_idempotency_key",
    "rule_error",
]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII: safe in headers, logs and URLs


class ErrorKind(StrEnum):
    """The ``error.type`` of an answer: which part of the request was wrong."""

    AUTHENTICATION = "authentication_error"
    INVALID_REQUEST = "invalid_request_error"
    IDEMPOTENCY = "idempotency_error"
    API = "api_error"


class ApiError(PspError):
    """An answer other than success, raised by a handler and rendered by the route wrapper."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.INVALID_REQUEST,
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind
        self.headers = dict(headers or {})
        self.details = details

    def response(self) -> Response:
        body = error_body(self.kind, self.code, self.message, self.details)
        return json_response(self.status, body, self.headers)


def error_body(
    kind: ErrorKind, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    error: dict[str, Any] = {"type": kind.value, "code": code, "message": message}
    if details is not None:
        error["details"] = details
    return orjson.dumps({"error": error})


def json_response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def rule_error(exc: PspRuleError) -> ApiError:
    """The answer to a broken card-processing rule: 404 for a missing authorization, else 409."""
    status = 404 if isinstance(exc, AuthorizationNotFoundError) else 409
    return ApiError(status, exc.code, str(exc))


def authenticate(request: Request, api_key: str) -> None:
    """Raises: ApiError 401 unless the request carries ``Authorization: Bearer <api_key>``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), api_key.encode()
    ):
        raise ApiError(
            401,
            "invalid_api_key",
            "send Authorization: Bearer <api key>",
            kind=ErrorKind.AUTHENTICATION,
            headers={"WWW-Authenticate": 'Bearer realm="psp"'},
        )


def required_idempotency_key(request: Request) -> str:
    """The request's ``Idempotency-Key``.

    Raises:
        ApiError: 400 when absent, or when not 1-255 visible ASCII characters.
    """
    key = optional_idempotency_key(request)
    if key is None:
        raise ApiError(
            400,
            "idempotency_key_required",
            f"this operation needs an {IDEMPOTENCY_KEY_HEADER} header",
            kind=ErrorKind.IDEMPOTENCY,
        )
    return key


def optional_idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, or None when it has none.

    Raises:
        ApiError: 400 when present but not 1-255 visible ASCII characters.
    """
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if not key:
        return None
    if _KEY.fullmatch(key) is None:
        raise ApiError(
            400,
            "invalid_idempotency_key",
            "an idempotency key is 1-255 visible ASCII characters",
            kind=ErrorKind.IDEMPOTENCY,
        )
    return key


_ModelT = TypeVar("_ModelT", bound=BaseModel)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused as soon as it is known to pass ``max_bytes``.

    Raises:
        ApiError: 413 ``body_too_large``.
    """
    too_large = ApiError(413, "body_too_large", f"the body may have at most {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, model: type[_ModelT], max_bytes: int) -> _ModelT:
    """Parse a JSON object body (an empty body is ``{}``) into ``model``.

    Raises:
        ApiError: 413 ``body_too_large``; 400 ``invalid_json`` for a body that is not a
            JSON object; 422 ``invalid_request`` with per-field details when the object
            does not validate.
    """
    raw = await read_body(request, max_bytes)
    try:
        data: object = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ApiError(
            422, "invalid_request", "the body did not validate", details=details
        ) from exc
