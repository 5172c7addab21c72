"""Orders errors → problem+json: the one mapping the orders routes use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bazaar.api.problems import FieldError, ProblemError
from bazaar.contexts.orders.domain import errors

__all__ = ["orders_errors", "orders_problem"]


def orders_problem(exc: errors.OrdersError) -> ProblemError:
    match exc:
        case errors.OrderNotFoundError():
            return ProblemError(404, "not-found", "No such resource.")
        case errors.ProductUnavailableError(field=field, reason=reason):
            return ProblemError(
                422,
                "validation",
                "One or more fields are invalid.",
                errors=[FieldError(field=field, message=reason, code="unavailable")],
            )
        case errors.InvalidOrderError(field=field, reason=reason):
            return ProblemError(
                422,
                "validation",
                "One or more fields are invalid.",
                errors=[FieldError(field=field, message=reason, code="invalid")],
            )
        case errors.OrderNotCancellableError(status=status):
            return ProblemError(
                409,
                "conflict",
                f"The order is {status}; only orders before shipment can be cancelled.",
            )
    return ProblemError(500, "internal", "The server could not complete the request.")


@contextmanager
def orders_errors() -> Iterator[None]:
    """Translate orders errors raised inside the block."""
    try:
        yield
    except errors.OrdersError as exc:
        raise orders_problem(exc) from exc
