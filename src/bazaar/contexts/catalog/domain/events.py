"""Events of the catalog context (past tense, frozen, versioned).

A product's events are keyed by the product, so they are consumed in the order they
happened. Their first reader is the catalog's own cache invalidation (capabilities §8.4):
whatever process changed a product, every process drops its cached copies of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.domain import DomainEvent

__all__ = ["CatalogEvent", "ProductArchived", "ProductCreated", "ProductUpdated"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEvent(DomainEvent):
    """Base of every catalog event: each is about one product, at one of its versions."""

    product_id: int
    product_version: int

    @property
    def partition_key(self) -> str:
        return str(self.product_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductCreated(CatalogEvent):
    type: ClassVar[str] = "catalog.product_created"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductUpdated(CatalogEvent):
    type: ClassVar[str] = "catalog.product_updated"
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductArchived(CatalogEvent):
    type: ClassVar[str] = "catalog.product_archived"
