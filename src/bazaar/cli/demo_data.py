"""Demo data for ``bazaar up --demo``: a shop with a merchant, a customer and ~200 products.

Seeded once per data dir (``<data dir>/demo.json`` remembers the tenant), in the background
after the system is up, so start-up time does not grow with it. The accounts' passwords are
fixed and printed: this exists only in demo mode, on loopback.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bazaar.bootstrap import Container
from bazaar.contexts.catalog import seed_demo_catalog
from bazaar.contexts.identity import Role

__all__ = ["DemoShop", "seed_demo_shop"]

DEMO_PASSWORD = "demo-password-1234"
_ACCOUNTS = {
    "admin": "admin@demo.bazaar.test",
    "merchant": "merchant@demo.bazaar.test",
    "customer": "customer@demo.bazaar.test",
}


@dataclass(frozen=True, slots=True)
class DemoShop:
    tenant_id: str
    admin_email: str
    merchant_email: str
    customer_email: str
    password: str
    products: int


async def seed_demo_shop(container: Container) -> DemoShop:
    """The demo tenant of this data dir, created (with its catalog) the first time."""
    record = container.settings.data_dir / "demo.json"
    known = await asyncio.to_thread(_read, record)
    if known is not None:
        return known
    identity = container.identity
    tenant = await identity.create_tenant(
        name="Demo shop",
        admin_email=_ACCOUNTS["admin"],
        admin_password=DEMO_PASSWORD,
        operator_key=None,
    )
    tokens = await identity.login(
        tenant_id=tenant.id, email=_ACCOUNTS["admin"], password=DEMO_PASSWORD
    )
    admin = await identity.authenticate_bearer(tokens.access_token)
    await identity.register(
        tenant_id=tenant.id,
        email=_ACCOUNTS["merchant"],
        password=DEMO_PASSWORD,
        role=Role.MERCHANT,
        actor=admin,
    )
    await identity.register(
        tenant_id=tenant.id, email=_ACCOUNTS["customer"], password=DEMO_PASSWORD
    )
    products = await seed_demo_catalog(container.catalog, tenant.id)
    shop = DemoShop(
        tenant_id=str(tenant.id),
        admin_email=_ACCOUNTS["admin"],
        merchant_email=_ACCOUNTS["merchant"],
        customer_email=_ACCOUNTS["customer"],
        password=DEMO_PASSWORD,
        products=len(products),
    )
    await asyncio.to_thread(_write, record, shop)
    return shop


def _read(path: Path) -> DemoShop | None:
    try:
        return DemoShop(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def _write(path: Path, shop: DemoShop) -> None:
    path.write_text(json.dumps(asdict(shop), indent=2) + "\n")
