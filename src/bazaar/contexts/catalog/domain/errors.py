"""Errors of the catalog context.

BazaarError
└── CatalogError
    ├── ProductNotFoundError(product_id)          no such product the caller may see
    ├── VersionMismatchError(product_id, current_version)
    │                                             the caller's If-Match names another version
    ├── DuplicateReviewError(product_id, user_id) one review per customer per product
    └── CatalogValidationError(fields)            values that break a rule (one ``InvalidField``
        │                                         each; ``field`` is the request's own name)
        ├── InvalidProductError(fields)           a product's name, price, attributes, ...
        ├── InvalidReviewError(fields)            a review's rating or text
        └── InvalidQueryError(fields)             a list's filters, sort or cursor

Every one of them refuses a request before any write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bazaar.kernel.errors import BazaarError

__all__ = [
    "CatalogError",
    "CatalogValidationError",
    "DuplicateReviewError",
    "InvalidField",
    "InvalidProductError",
    "InvalidQueryError",
    "InvalidReviewError",
    "ProductNotFoundError",
    "VersionMismatchError",
]


class CatalogError(BazaarError):
    """Raised by the catalog context on purpose."""


class ProductNotFoundError(CatalogError):
    """Unknown, another tenant's, or hidden from the caller (a draft): deliberately alike."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"no product {product_id}")
        self.product_id = product_id


class VersionMismatchError(CatalogError):
    """The product is at ``current_version``, not the one the caller's write was based on."""

    def __init__(self, product_id: int, current_version: int) -> None:
        super().__init__(f"product {product_id} is at version {current_version}")
        self.product_id = product_id
        self.current_version = current_version


class DuplicateReviewError(CatalogError):
    """The customer already reviewed this product."""

    def __init__(self, product_id: int, user_id: int) -> None:
        super().__init__(f"user {user_id} already reviewed product {product_id}")
        self.product_id = product_id
        self.user_id = user_id


@dataclass(frozen=True, slots=True)
class InvalidField:
    """One value at fault: ``field`` is its name in the request (``price.amount``, ``cursor``)."""

    field: str
    message: str
    code: str = "invalid"


class CatalogValidationError(CatalogError):
    """Values that break the catalog's rules; ``fields`` says every reason."""

    def __init__(self, fields: Sequence[InvalidField]) -> None:
        super().__init__("; ".join(f"{f.field}: {f.message}" for f in fields))
        self.fields = tuple(fields)


class InvalidProductError(CatalogValidationError):
    """A product cannot be stored as asked."""


class InvalidReviewError(CatalogValidationError):
    """A review cannot be stored as asked."""


class InvalidQueryError(CatalogValidationError):
    """A list request's filters, sort or cursor cannot be used."""
