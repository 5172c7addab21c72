"""The routers the API serves, one per context and version, in one explicit list; and the
routes a newer version supersedes, which announce their deprecation (capabilities §1.6)."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.api.middleware.deprecation import Deprecation
from bazaar.contexts.catalog.api.routes import router as catalog_router
from bazaar.contexts.catalog.api.routes_v2 import SUPERSEDED_ROUTES as CATALOG_SUPERSEDED_ROUTES
from bazaar.contexts.catalog.api.routes_v2 import router as catalog_v2_router
from bazaar.contexts.identity.api.routes import router as identity_router
from bazaar.contexts.identity.api.routes import well_known_router as identity_well_known_router
from bazaar.contexts.orders.api.routes import router as orders_router
from bazaar.contexts.payments.api.routes import router as payments_router
from bazaar.contexts.payments.api.webhooks import webhooks_router as payments_webhooks_router
from bazaar.contexts.webhooks.api.routes import router as webhooks_router

__all__ = ["API_ROUTERS", "DEPRECATED_ROUTES"]

API_ROUTERS: list[APIRouter] = [
    identity_router,
    identity_well_known_router,
    orders_router,
    payments_router,
    payments_webhooks_router,
    webhooks_router,
    catalog_router,
    catalog_v2_router,
]

# Route template → its deprecation, for ``DeprecationMiddleware``.
DEPRECATED_ROUTES: dict[str, Deprecation] = {**CATALOG_SUPERSEDED_ROUTES}
