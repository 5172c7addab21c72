"""The ``catalog-cache`` consumer: product events from the outbox invalidate the caches.

This is the reliable half of invalidation (capabilities §8.4; ``caching`` has the fast
half). The event is consumed at least once, after its product's commit, whichever
process made the change and even if that process died right after committing; dropping
a cached copy twice is harmless, so the handler needs no inbox record of its own. A
cache that cannot be reached fails the handler, which the consumer retries with backoff:
until it succeeds, the copies it could not drop are bounded by their TTLs.
"""

from __future__ import annotations

from bazaar.contexts.catalog.application.caching import CatalogCache
from bazaar.contexts.catalog.domain.events import ProductArchived, ProductCreated, ProductUpdated
from bazaar.kernel.messaging import Envelope, Handler, PermanentHandlerError, Subscription

__all__ = ["CONSUMER", "TOPICS", "cache_invalidation_subscription"]

CONSUMER = "catalog-cache"
TOPICS = ("catalog",)
_TYPES = (ProductCreated.type, ProductUpdated.type, ProductArchived.type)


def cache_invalidation_subscription(cache: CatalogCache) -> Subscription:
    """Drop a product's cached copies, and its tenant's lists, on each of its events."""

    async def invalidate(envelope: Envelope) -> None:
        try:
            tenant_id = int(envelope.payload["tenant_id"])
            product_id = int(envelope.payload["product_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentHandlerError(f"not a product event: {exc}") from exc
        await cache.product_changed(tenant_id, product_id, strict=True)

    handlers: dict[str, Handler] = dict.fromkeys(_TYPES, invalidate)
    return Subscription(consumer=CONSUMER, topics=TOPICS, handlers=handlers)
