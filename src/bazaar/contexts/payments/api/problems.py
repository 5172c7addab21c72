"""Payments errors → problem+json: the one mapping the payments routes use."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from bazaar.api.problems import FieldError, ProblemError
from bazaar.contexts.payments.domain import errors

__all__ = ["payments_errors", "payments_problem", "retry_after"]


def retry_after(seconds: float) -> dict[str, str]:
    """A ``Retry-After`` header in whole seconds, never less than one."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def payments_problem(exc: errors.PaymentsError) -> ProblemError:
    """The problem answering ``exc``."""
    match exc:
        case errors.PaymentNotFoundError():
            return ProblemError(404, "not-found", "No such resource.")
        case errors.PaymentRejectedError(field=field, code=code, message=message):
            error = FieldError(field=field, message=message or code, code=code)
            return ProblemError(
                422, "validation", "The payment provider refused the request.", errors=[error]
            )
        case errors.ProviderKeyReusedError():
            return ProblemError(
                422,
                "idempotency-key-reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            )
        case errors.InvalidRefundError(field=field, message=message):
            error = FieldError(field=field, message=message, code="invalid")
            return ProblemError(
                422, "validation", "One or more fields are invalid.", errors=[error]
            )
        case errors.RefundNotAllowedError(message=message):
            return ProblemError(409, "conflict", message)
        case errors.PaymentNotCapturableError() | errors.PaymentNotVoidableError():
            return ProblemError(409, "conflict", str(exc))
        case errors.ProviderRefusalError(code=code):
            return ProblemError(409, "conflict", f"The payment provider refused: {code}.")
        case errors.PaymentOutcomeUnknownError(retry_after_s=seconds):
            return ProblemError(
                503,
                "dependency-unavailable",
                "The payment provider did not confirm the outcome; retry with the same "
                "Idempotency-Key (it cannot charge twice).",
                headers=retry_after(seconds),
            )
    return ProblemError(500, "internal", "The server could not complete the request.")


@contextmanager
def payments_errors() -> Iterator[None]:
    """Translate payments errors raised inside the block."""
    try:
        yield
    except errors.PaymentsError as exc:
        raise payments_problem(exc) from exc
