"""A demo catalog for ``bazaar up --demo``: ~200 varied products, the same ones on every run.

Everything goes through ``CatalogService`` (validation, stock through inventory), so the
demo data is data the API itself could have made. A seeded ``random.Random`` picks names,
prices, attributes and stock: the same seed gives the same catalog, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bazaar.contexts.catalog.application.queries import ListProducts
from bazaar.contexts.catalog.application.service import CatalogService
from bazaar.contexts.catalog.domain.commands import CreateProduct
from bazaar.contexts.catalog.domain.model import Product, ProductStatus
from bazaar.kernel.money import Money

__all__ = ["DEMO_SEED", "seed_demo_catalog"]

DEMO_SEED = 20261126


@dataclass(frozen=True, slots=True)
class _Category:
    slug: str
    nouns: Sequence[str]
    price_range: tuple[int, int]  # whole major units
    attributes: Mapping[str, Sequence[Any]]


_ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Everyday", "Handmade", "Heavy-Duty", "Lightweight",
    "Modern", "Nordic", "Pocket", "Premium", "Retro", "Smart", "Travel", "Vintage",
)  # fmt: skip

_CATEGORIES = (
    _Category(
        "books",
        ("Cookbook", "Field Guide", "Novel", "Poetry Collection", "Atlas", "Travel Journal"),
        (8, 45),
        {"format": ("hardcover", "paperback", "ebook"), "language": ("en", "de", "fr", "es")},
    ),
    _Category(
        "electronics",
        ("Headphones", "Bluetooth Speaker", "USB-C Charger", "E-Reader", "Webcam", "Keyboard"),
        (15, 400),
        {"color": ("black", "white", "silver"), "warranty_years": (1, 2, 3)},
    ),
    _Category(
        "home-garden",
        ("Plant Pot", "Garden Hose", "Table Lamp", "Throw Blanket", "Herb Planter", "Doormat"),
        (6, 120),
        {"material": ("ceramic", "cotton", "steel", "bamboo"), "color": ("green", "sand", "grey")},
    ),
    _Category(
        "kitchen",
        ("Chef's Knife", "Cast Iron Pan", "Coffee Grinder", "Tea Kettle", "Cutting Board"),
        (10, 180),
        {"material": ("steel", "wood", "cast-iron"), "dishwasher_safe": (True, False)},
    ),
    _Category(
        "sports",
        ("Yoga Mat", "Water Bottle", "Running Cap", "Climbing Chalk", "Jump Rope"),
        (5, 90),
        {"size": ("S", "M", "L"), "color": ("red", "blue", "black")},
    ),
    _Category(
        "toys",
        ("Puzzle", "Building Blocks", "Kite", "Wooden Train", "Board Game"),
        (7, 70),
        {"age_min": (3, 6, 8, 12), "pieces": (24, 100, 500, 1000)},
    ),
    _Category(
        "clothing",
        ("Wool Sweater", "Rain Jacket", "Linen Shirt", "Hiking Socks", "Scarf"),
        (12, 160),
        {"size": ("XS", "S", "M", "L", "XL"), "fabric": ("wool", "linen", "cotton")},
    ),
    _Category(
        "grocery",
        ("Olive Oil", "Dark Chocolate", "Green Tea", "Honey", "Espresso Beans"),
        (3, 30),
        {"origin": ("Italy", "Ghana", "Japan", "Greece", "Colombia"), "organic": (True, False)},
    ),
)


def _product(rng: random.Random, tenant_id: int, currency: str, number: int) -> CreateProduct:
    category = rng.choice(_CATEGORIES)
    adjective, noun = rng.choice(_ADJECTIVES), rng.choice(category.nouns)
    low, high = category.price_range
    cents = rng.randrange(low * 100, high * 100) // 5 * 5 + 4  # x.x4 / x.x9 price points
    attributes = {key: rng.choice(values) for key, values in category.attributes.items()}
    attributes["sku"] = f"DEMO-{number:04d}"
    stock = 0 if rng.random() < 0.08 else rng.randrange(1, 500)
    status = ProductStatus.DRAFT if rng.random() < 0.05 else ProductStatus.ACTIVE
    return CreateProduct(
        tenant_id=tenant_id,
        name=f"{adjective} {noun}",
        description=(
            f"A {adjective.lower()} {noun.lower()} from the demo catalog "
            f"({category.slug.replace('-', ' ')}). Item {number} of the demo set."
        ),
        price=Money.rounded(Decimal(cents).scaleb(-2), currency),
        category=category.slug,
        attributes=attributes,
        status=status,
        stock=stock,
    )


async def seed_demo_catalog(
    service: CatalogService,
    tenant_id: int,
    *,
    count: int = 200,
    seed: int = DEMO_SEED,
    currency: str = "EUR",
) -> list[Product]:
    """Create ``count`` demo products for ``tenant_id`` unless it already has products.

    Args:
        service: the catalog facade (``container.catalog``).
        tenant_id: the demo tenant.
        count: how many products (~5 % drafts, ~8 % out of stock).
        seed: the random seed; the same seed gives the same catalog.
        currency: the ISO 4217 currency of every price.

    Returns:
        The products created, in creation order (empty when the tenant had products).
    """
    existing = await service.list_products(
        ListProducts(tenant_id=tenant_id, include_hidden=True, limit=1, with_stock=False)
    )
    if existing.items:
        return []
    rng = random.Random(seed)
    created = []
    for number in range(1, count + 1):
        details = await service.create_product(_product(rng, tenant_id, currency, number))
        created.append(details.product)
    return created
