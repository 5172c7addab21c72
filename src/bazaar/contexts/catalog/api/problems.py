"""Catalog errors → problem+json: the one mapping the catalog routes use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bazaar.api.problems import FieldError, ProblemError
from bazaar.contexts.catalog.api.etags import product_etag
from bazaar.contexts.catalog.domain import errors
from bazaar.contexts.inventory import InvalidStockError

__all__ = ["catalog_errors", "catalog_problem"]


def _field_errors(exc: errors.CatalogValidationError) -> list[FieldError]:
    # Query problems are named as FastAPI names its own parameter errors: "query.cursor".
    prefix = "query." if isinstance(exc, errors.InvalidQueryError) else ""
    return [FieldError(prefix + f.field, f.message, f.code) for f in exc.fields]


def catalog_problem(exc: errors.CatalogError) -> ProblemError:
    """The problem answering ``exc``."""
    match exc:
        case errors.ProductNotFoundError():
            return ProblemError(404, "not-found", "No such resource.")
        case errors.VersionMismatchError(product_id=product_id, current_version=version):
            return ProblemError(
                412,
                "version-mismatch",
                f"The product has changed (it is at version {version}); "
                "GET it again and send its ETag in If-Match.",
                headers={"ETag": product_etag(product_id, version)},
            )
        case errors.DuplicateReviewError():
            return ProblemError(409, "conflict", "You have already reviewed this product.")
        case errors.CatalogValidationError():
            return ProblemError(
                422, "validation", "One or more fields are invalid.", errors=_field_errors(exc)
            )
    return ProblemError(500, "internal", "The server could not complete the request.")


@contextmanager
def catalog_errors() -> Iterator[None]:
    """Translate catalog errors (and inventory's refusal of a stock figure) raised inside."""
    try:
        yield
    except errors.CatalogError as exc:
        raise catalog_problem(exc) from exc
    except InvalidStockError as exc:
        raise ProblemError(
            422,
            "validation",
            "One or more fields are invalid.",
            errors=[FieldError(exc.field, exc.reason, "invalid")],
        ) from exc
