"""Request and response bodies of the catalog API: one DTO per use, unknown fields refused.

v1 spells money as a decimal string (``MoneyIn``, ``MoneyPublic``); v2 as integer minor
units (``MinorMoneyIn``, ``MinorMoneyPublic``). Everything else about a product is the same
in both versions (docs/api-versioning.md).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from bazaar.api.money import MinorMoneyIn as SharedMinorMoneyIn
from bazaar.api.money import MinorMoneyPublic, MoneyPublic
from bazaar.api.money import MoneyIn as SharedMoneyIn
from bazaar.contexts.catalog.application import MAX_STOCK, ProductDetails
from bazaar.contexts.catalog.domain import model
from bazaar.contexts.catalog.domain.model import Product, ProductChanges, ProductStatus, Review
from bazaar.kernel.money import Money

__all__ = [
    "PRODUCT_FIELDS",
    "MinorMoneyIn",
    "MinorMoneyPublic",
    "MoneyIn",
    "MoneyPublic",
    "ProductCreate",
    "ProductCreateV2",
    "ProductPage",
    "ProductPageV2",
    "ProductPublic",
    "ProductPublicV2",
    "ProductUpdate",
    "ProductUpdateV2",
    "ProductViewsPublic",
    "ReviewCreate",
    "ReviewPage",
    "ReviewPublic",
    "StockLevelPublic",
    "StockPublic",
    "StockUpdate",
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=model.NAME_MAX)]
Description = Annotated[str, StringConstraints(max_length=model.DESCRIPTION_MAX)]
Category = Annotated[
    str,
    StringConstraints(min_length=1, max_length=model.CATEGORY_MAX, pattern=model.CATEGORY_PATTERN),
]
Units = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


def _attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        problems = model.attributes_problems(value)
        if problems:
            raise ValueError(problems[0].message)
    return value


def _not_null(value: Any) -> Any:
    # Runs only for values the body holds: null is refused, an absent field is not.
    if value is None:
        raise ValueError("must not be null (leave the field out to keep its value)")
    return value


class MoneyIn(SharedMoneyIn):
    """``{"amount": "19.99", "currency": "EUR"}``: from 0 to ``MAX_PRICE``, and no finer than
    the currency's minor unit (2 decimals for EUR, none for JPY, 3 for KWD)."""

    allow_zero: ClassVar[bool] = True
    maximum: ClassVar[Decimal] = model.MAX_PRICE


class MinorMoneyIn(SharedMinorMoneyIn):
    """``{"amount_minor": 1999, "currency": "EUR"}``: from 0 to ``MAX_PRICE`` in minor units
    (100000000 for EUR, 1000000 for JPY); ``exponent`` optional, checked when sent."""

    allow_zero: ClassVar[bool] = True
    maximum: ClassVar[Decimal] = model.MAX_PRICE


def _changes(body: BaseModel, price: Money | None, status: str | None) -> ProductChanges:
    """The changes a PATCH body asks for: the fields it holds, and only those."""
    given = body.model_fields_set
    kwargs: dict[str, Any] = {}
    for name in ("name", "description", "category", "attributes"):
        if name in given:
            kwargs[name] = getattr(body, name)
    if price is not None:
        kwargs["price"] = price
    if status is not None:
        kwargs["status"] = ProductStatus(status)
    return ProductChanges(**kwargs)


class _ProductFields(_Request):
    """What a new product says besides its price (each version spells the price its way)."""

    name: Name = Field(examples=["Cast Iron Pan"])
    description: Description | None = None
    category: Category = Field(examples=["kitchen"])
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="A JSON object: at most 50 keys, 4 levels deep, 8 KiB.",
        examples=[{"material": "cast-iron", "diameter_cm": 28}],
    )
    status: Literal["active", "draft"] = "active"
    stock: Units | None = Field(default=None, description="Units available (inventory).")

    _check_attributes = field_validator("attributes")(_attributes)


class ProductCreate(_ProductFields):
    price: MoneyIn


class ProductCreateV2(_ProductFields):
    """``ProductCreate`` with the price in minor units."""

    price: MinorMoneyIn


class _ProductChangeFields(_Request):
    """Fields left out stay as they are; ``description: null`` removes the description."""

    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    attributes: dict[str, Any] | None = None
    status: Literal["active", "draft", "archived"] | None = None

    _check_attributes = field_validator("attributes")(_attributes)
    # ``price`` is declared by each version's subclass: checked there too.
    _check_not_null = field_validator(
        "name", "price", "category", "attributes", "status", check_fields=False
    )(_not_null)


class ProductUpdate(_ProductChangeFields):
    """Fields left out stay as they are; ``description: null`` removes the description."""

    price: MoneyIn | None = None

    def changes(self) -> ProductChanges:
        return _changes(self, None if self.price is None else self.price.money(), self.status)


class ProductUpdateV2(_ProductChangeFields):
    """``ProductUpdate`` with the price in minor units."""

    price: MinorMoneyIn | None = None

    def changes(self) -> ProductChanges:
        return _changes(self, None if self.price is None else self.price.money(), self.status)


class StockUpdate(_Request):
    available: Units


class ReviewCreate(_Request):
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    text: Annotated[str, StringConstraints(max_length=model.REVIEW_TEXT_MAX)] = ""


class StockPublic(_Response):
    available: int
    reserved: int


class ProductPublic(_Response):
    id: str
    tenant_id: str
    name: str
    description: str | None
    price: MoneyPublic
    category: str
    attributes: dict[str, Any]
    status: Literal["active", "draft", "archived"]
    version: int
    created_at: datetime
    updated_at: datetime
    stock: StockPublic

    @classmethod
    def of(cls, details: ProductDetails) -> ProductPublic:
        return cls(**_product_fields(details), price=MoneyPublic.of(details.product.price))


class ProductPublicV2(_Response):
    """``ProductPublic`` with the price in minor units; the same fields in the same order."""

    id: str
    tenant_id: str
    name: str
    description: str | None
    price: MinorMoneyPublic
    category: str
    attributes: dict[str, Any]
    status: Literal["active", "draft", "archived"]
    version: int
    created_at: datetime
    updated_at: datetime
    stock: StockPublic

    @classmethod
    def of(cls, details: ProductDetails) -> ProductPublicV2:
        return cls(**_product_fields(details), price=MinorMoneyPublic.of(details.product.price))


def _product_fields(details: ProductDetails) -> dict[str, Any]:
    """Every field of a public product but its price (the one field whose shape differs)."""
    product: Product = details.product
    stock = details.stock
    return {
        "id": str(product.id),
        "tenant_id": str(product.tenant_id),
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "attributes": dict(product.attributes),
        "status": product.status.value,
        "version": product.version,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "stock": StockPublic(
            available=0 if stock is None else stock.available,
            reserved=0 if stock is None else stock.reserved,
        ),
    }


# The names ``?fields=`` may pick (capabilities §1.11), the same in v1 and v2.
PRODUCT_FIELDS: tuple[str, ...] = tuple(ProductPublic.model_fields)


class ProductPage(_Response):
    items: list[ProductPublic]
    next_cursor: str | None


class ProductPageV2(_Response):
    items: list[ProductPublicV2]
    next_cursor: str | None


class StockLevelPublic(_Response):
    product_id: str
    available: int
    reserved: int


class ProductViewsPublic(_Response):
    """A product's view count; ``pending`` of them are not flushed to the database yet."""

    product_id: str
    views: int
    pending: int


class ReviewPublic(_Response):
    id: str
    product_id: str
    user_id: str
    rating: int
    text: str
    created_at: datetime

    @classmethod
    def of(cls, review: Review) -> ReviewPublic:
        return cls(
            id=str(review.id),
            product_id=str(review.product_id),
            user_id=str(review.user_id),
            rating=review.rating,
            text=review.text,
            created_at=review.created_at,
        )


class ReviewPage(_Response):
    items: list[ReviewPublic]
    next_cursor: str | None
