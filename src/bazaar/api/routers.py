"""The routers the API serves, one per context, in one explicit list."""

from __future__ import annotations

from fastapi import APIRouter

from bazaar.contexts.catalog.api.routes import router as catalog_router
from bazaar.contexts.identity.api.routes import router as identity_router
from bazaar.contexts.identity.api.routes import well_known_router as identity_well_known_router
from bazaar.contexts.orders.api.routes import router as orders_router
from bazaar.contexts.payments.api.routes import router as payments_router
from bazaar.contexts.payments.api.webhooks import webhooks_router as payments_webhooks_router
from bazaar.contexts.webhooks.api.routes import router as webhooks_router

__all__ = ["API_ROUTERS"]

API_ROUTERS: list[APIRouter] = [
    identity_router,
    identity_well_known_router,
    orders_router,
    payments_router,
    payments_webhooks_router,
    webhooks_router,
    catalog_router,
]
