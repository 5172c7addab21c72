"""Webhooks errors → problem+json: the one mapping the webhooks routes use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bazaar.api.problems import FieldError, ProblemError
from bazaar.contexts.webhooks.domain import errors

__all__ = ["webhooks_errors", "webhooks_problem"]


def webhooks_problem(exc: errors.WebhooksError) -> ProblemError:
    """The problem answering ``exc``."""
    match exc:
        case errors.EndpointNotFoundError() | errors.DeliveryNotFoundError():
            return ProblemError(404, "not-found", "No such resource.")
        case errors.InvalidEndpointError(fields=fields):
            return ProblemError(
                422,
                "validation",
                "One or more fields are invalid.",
                errors=[FieldError(f.field, f.message, f.code) for f in fields],
            )
        case errors.DeliveryNotReplayableError(status=status):
            return ProblemError(
                409,
                "conflict",
                f"The delivery is {status}; only failed or abandoned deliveries are replayed.",
            )
        case errors.EndpointDisabledError():
            return ProblemError(
                409, "conflict", "The endpoint is disabled; enable it before replaying."
            )
    return ProblemError(500, "internal", "The server could not complete the request.")


@contextmanager
def webhooks_errors() -> Iterator[None]:
    """Translate webhooks errors raised inside the block."""
    try:
        yield
    except errors.WebhooksError as exc:
        raise webhooks_problem(exc) from exc
