"""The catalog model: products, their changes, reviews, and the rules their values obey.

A product lives through these states (``version`` counts every change)::

    draft ──▶ active ──▶ archived        (any state may move to any other by an update;
      ▲          │                         DELETE archives: a soft delete that keeps the
      └──────────┘                         row for orders and reviews that point at it)

Customers see ``active`` products only; merchants see all of their tenant's.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bazaar.contexts.catalog.domain.errors import InvalidField
from bazaar.kernel.money import Money

__all__ = [
    "ATTRIBUTES_MAX_BYTES",
    "ATTRIBUTES_MAX_DEPTH",
    "ATTRIBUTES_MAX_KEYS",
    "CATEGORY_MAX",
    "CATEGORY_PATTERN",
    "DESCRIPTION_MAX",
    "MAX_PRICE",
    "NAME_MAX",
    "PRICE_SCALE",
    "REVIEW_TEXT_MAX",
    "UNSET",
    "Product",
    "ProductChanges",
    "ProductStatus",
    "ProductStock",
    "Review",
    "Unset",
    "attributes_problems",
    "category_problems",
    "description_problems",
    "name_problems",
    "price_micros",
    "price_problems",
    "review_problems",
]

NAME_MAX = 200
DESCRIPTION_MAX = 5000
CATEGORY_MAX = 64
# Lower-case words joined by single hyphens: "home-garden", "books", "4k-tv".
CATEGORY_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ATTRIBUTES_MAX_KEYS = 50
ATTRIBUTES_MAX_DEPTH = 4
ATTRIBUTES_MAX_BYTES = 8192
ATTRIBUTE_KEY_MAX = 64
# The dearest product, in major units of its currency (as payments bounds one payment).
MAX_PRICE = Decimal(1_000_000)
# Prices are also kept in millionths of a major unit: the same scale for every currency
# (ISO 4217 exponents go up to 4), so filters and sorts by amount compare integers.
PRICE_SCALE = 6
REVIEW_TEXT_MAX = 2000

_CATEGORY = re.compile(CATEGORY_PATTERN)
# C0 controls (but tab and newlines in free text), DEL and C1 controls. PostgreSQL refuses
# NUL in text outright; the others only ever arrive by accident or with bad intent.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    DRAFT = "draft"
    ARCHIVED = "archived"


class Unset(enum.Enum):
    """The value of a field an update leaves alone (``None`` may be a value: no description)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def price_micros(price: Money) -> int:
    """``price`` in millionths of its major unit (19.99 EUR → 19_990_000)."""
    return int(price.amount.scaleb(PRICE_SCALE))


@dataclass(frozen=True, slots=True)
class Product:
    """A product of one tenant (entity); ``version`` starts at 1 and grows with each change."""

    id: int
    tenant_id: int
    name: str
    description: str | None
    price: Money
    category: str
    attributes: Mapping[str, Any]
    status: ProductStatus
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def visible_to_customers(self) -> bool:
        return self.status is ProductStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """What an update sets; ``UNSET`` fields stay as they are."""

    name: str | Unset = UNSET
    description: str | Unset | None = UNSET
    price: Money | Unset = UNSET
    category: str | Unset = UNSET
    attributes: Mapping[str, Any] | Unset = UNSET
    status: ProductStatus | Unset = UNSET

    def is_empty(self) -> bool:
        return all(
            value is UNSET
            for value in (
                self.name,
                self.description,
                self.price,
                self.category,
                self.attributes,
                self.status,
            )
        )

    def problems(self) -> list[InvalidField]:
        """Every rule the set fields break (empty when they all hold)."""
        found: list[InvalidField] = []
        if not isinstance(self.name, Unset):
            found += name_problems(self.name)
        if not isinstance(self.description, Unset):
            found += description_problems(self.description)
        if not isinstance(self.price, Unset):
            found += price_problems(self.price)
        if not isinstance(self.category, Unset):
            found += category_problems(self.category)
        if not isinstance(self.attributes, Unset):
            found += attributes_problems(self.attributes)
        return found


@dataclass(frozen=True, slots=True)
class ProductStock:
    """A product's stock as the catalog shows it (inventory owns the figures)."""

    product_id: int
    available: int = 0
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class Review:
    """One customer's review of one product (at most one per customer and product)."""

    id: int
    tenant_id: int
    product_id: int
    user_id: int
    rating: int
    text: str = field(repr=False)
    created_at: datetime


# --- rules (each returns the problems it finds; the service raises them together) ---


def name_problems(name: str, field_name: str = "name") -> list[InvalidField]:
    if not name.strip():
        return [InvalidField(field_name, "must not be blank", "blank")]
    if len(name) > NAME_MAX:
        return [InvalidField(field_name, f"must be at most {NAME_MAX} characters", "too_long")]
    if _LINE_CONTROL.search(name):
        return [InvalidField(field_name, "must not contain control characters", "control")]
    return []


def description_problems(description: str | None) -> list[InvalidField]:
    if description is None:
        return []
    if len(description) > DESCRIPTION_MAX:
        message = f"must be at most {DESCRIPTION_MAX} characters"
        return [InvalidField("description", message, "too_long")]
    if _CONTROL.search(description):
        return [InvalidField("description", "must not contain control characters", "control")]
    return []


def price_problems(price: Money) -> list[InvalidField]:
    if price.is_negative():
        return [InvalidField("price.amount", "must not be negative", "negative")]
    if price.amount > MAX_PRICE:
        return [InvalidField("price.amount", f"must be at most {MAX_PRICE}", "too_large")]
    return []


def category_problems(category: str) -> list[InvalidField]:
    if len(category) > CATEGORY_MAX:
        message = f"must be at most {CATEGORY_MAX} characters"
        return [InvalidField("category", message, "too_long")]
    if not _CATEGORY.fullmatch(category):
        message = "must be lower-case letters and digits in words joined by '-' (e.g. home-garden)"
        return [InvalidField("category", message, "pattern")]
    return []


def attributes_problems(attributes: object) -> list[InvalidField]:
    """A JSON object of at most 50 keys, 4 levels and 8 KiB, with finite numbers only."""
    if not isinstance(attributes, Mapping):
        return [InvalidField("attributes", "must be a JSON object", "type")]
    if len(attributes) > ATTRIBUTES_MAX_KEYS:
        message = f"must have at most {ATTRIBUTES_MAX_KEYS} keys"
        return [InvalidField("attributes", message, "too_many_keys")]
    problem = _json_problem(attributes, depth=1)
    if problem is not None:
        return [InvalidField("attributes", problem, "invalid")]
    if _json_size(attributes) > ATTRIBUTES_MAX_BYTES:
        message = f"must be at most {ATTRIBUTES_MAX_BYTES} bytes as JSON"
        return [InvalidField("attributes", message, "too_large")]
    return []


def _json_problem(value: Any, depth: int) -> str | None:
    if isinstance(value, Mapping):
        if depth > ATTRIBUTES_MAX_DEPTH:
            return f"must nest at most {ATTRIBUTES_MAX_DEPTH} levels deep"
        for key, item in value.items():
            if not isinstance(key, str) or not 1 <= len(key) <= ATTRIBUTE_KEY_MAX:
                return f"keys must be 1 to {ATTRIBUTE_KEY_MAX} characters"
            if _LINE_CONTROL.search(key):
                return "keys must not contain control characters"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list):
        if depth > ATTRIBUTES_MAX_DEPTH:
            return f"must nest at most {ATTRIBUTES_MAX_DEPTH} levels deep"
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite"
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"holds a {type(value).__name__}, which is not a JSON value"


def _json_size(value: Mapping[str, Any]) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def review_problems(rating: int, text: str) -> list[InvalidField]:
    found: list[InvalidField] = []
    if isinstance(rating, bool) or not 1 <= rating <= 5:
        found.append(InvalidField("rating", "must be an integer from 1 to 5", "range"))
    if len(text) > REVIEW_TEXT_MAX:
        message = f"must be at most {REVIEW_TEXT_MAX} characters"
        found.append(InvalidField("text", message, "too_long"))
    elif _CONTROL.search(text):
        found.append(InvalidField("text", "must not contain control characters", "control"))
    return found
