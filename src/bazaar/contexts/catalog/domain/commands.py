"""Commands of the catalog context: what merchants and customers ask of it (imperative, frozen)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bazaar.contexts.catalog.domain.model import ProductChanges, ProductStatus
from bazaar.kernel.money import Money

__all__ = [
    "ArchiveProduct",
    "Command",
    "CreateProduct",
    "PostReview",
    "SetStock",
    "UpdateProduct",
]


def _command_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base of every command; ``id`` correlates one request across logs."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    id: str = field(default_factory=_command_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateProduct(Command):
    """Add a product to the tenant's catalog; ``stock`` sets its available units."""

    type: ClassVar[str] = "catalog.create_product"
    tenant_id: int
    name: str
    price: Money
    category: str
    description: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status: ProductStatus = ProductStatus.ACTIVE
    stock: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProduct(Command):
    """Change a product if it is still at one of ``expected_versions`` (None: any version)."""

    type: ClassVar[str] = "catalog.update_product"
    tenant_id: int
    product_id: int
    expected_versions: frozenset[int] | None
    changes: ProductChanges


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveProduct(Command):
    """Soft-delete a product (status ``archived``) if it is still at an expected version."""

    type: ClassVar[str] = "catalog.archive_product"
    tenant_id: int
    product_id: int
    expected_versions: frozenset[int] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetStock(Command):
    """Set how many units of a product are available (inventory keeps the figure)."""

    type: ClassVar[str] = "catalog.set_stock"
    tenant_id: int
    product_id: int
    available: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PostReview(Command):
    """A customer's review of an active product: a rating of 1 to 5 and optional text."""

    type: ClassVar[str] = "catalog.post_review"
    tenant_id: int
    product_id: int
    user_id: int
    rating: int
    text: str = ""
