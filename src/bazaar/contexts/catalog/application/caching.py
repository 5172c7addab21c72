"""Cache-aside reads of the catalog (capabilities §8.1–8.5) and their invalidation (§8.4).

    GET /products/{id} ──▶ KnownProductIds (Bloom filter) ──"certainly unknown"──▶ 404, no query
                                 │ "maybe"
                                 ▼
                        products cache: L1 ─▶ L2 (Redis) ─▶ single flight ─▶ read model
                                 │                     (one loader per key, across processes)
                                 └── read model down ─▶ the last copy, served STALE (§4.4)

- **Products** are cached by tenant and id, absent ones too (negative caching), so a
  flood of reads of one cold product costs one query and a flood of unknown ids none.
- **Stock** is inventory's live figure: it is cached apart, in process only, for a second
  or so (``stock_ttl_s``), which bounds how stale a product page's stock may be. Checkout
  never reads it from here: reservations take the live figure.
- **Lists** are cached under a per-tenant *version* (versioned keys): any product change of
  the tenant bumps the version, so every list of the old version is unreachable at once
  and expires on its own; no scan for keys to delete.
- **Invalidation** runs twice on purpose: the process that changed a product invalidates
  right after its commit (fast: every process drops its copy within milliseconds through
  the cache's invalidation bus), and the product's event, consumed from the outbox,
  invalidates again (reliable: it survives a crash between the commit and the first).
  Both are idempotent.

Without a cache (``CatalogService(cache=None)``) every read goes to the read model.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from bazaar.contexts.catalog.domain.model import Product, ProductStock
from bazaar.kernel.cache import (
    BloomFilterNotReadyError,
    CacheRead,
    CacheStatus,
    CacheStoreError,
    LayeredCache,
)
from bazaar.kernel.clock import Clock

__all__ = [
    "KNOWN_IDS_SENTINEL",
    "CachedPage",
    "CatalogCache",
    "KnownProductIds",
    "ProductIdFilter",
    "ProductIdSource",
    "SnowflakeTimes",
]

# Added last by every refresh: a filter without it was lost (Redis flushed) or half built,
# and is not trusted until the next refresh.
KNOWN_IDS_SENTINEL = "known-product-ids:ready"
_REFRESH_PAGE = 5000


class ProductIdFilter(Protocol):
    """A Bloom filter as the catalog uses it (``bazaar.kernel.cache`` has the adapters).

    Any exception from it means "cannot tell": the store is asked, as without a filter.
    """

    async def add(self, key: str | int) -> None: ...

    async def add_many(self, keys: Iterable[str | int]) -> None: ...

    async def might_contain(self, key: str | int) -> bool: ...

    async def rebuild(self, keys: AsyncIterator[str | int]) -> int:
        """Replace the contents with ``keys``, atomically for readers."""
        ...


class ProductIdSource(Protocol):
    async def product_ids(self, *, from_id: int, limit: int) -> list[int]:
        """Up to ``limit`` product ids (every tenant, every status) ≥ ``from_id``, ascending."""
        ...


class SnowflakeTimes(Protocol):
    """When ids were made: product ids are Snowflakes, ordered by the time they were made."""

    def issued_at(self, product_id: int) -> float:
        """Epoch seconds at which ``product_id`` was made."""
        ...

    def first_id_at(self, at: float) -> int:
        """The smallest id made at ``at`` (epoch seconds) or later."""
        ...


class KnownProductIds:
    """A Bloom filter of every product id ever stored, in front of the store (§8.5).

    Products are never deleted (DELETE archives), so the set of ids only grows and the
    filter only ever gains members: a refresh adds, it never replaces, and cannot race a
    concurrent create out of the filter.

    The filter can only vouch for ids made before its *watermark*: a refresh at time T
    scanned every id made up to T, except those whose transaction had not committed yet,
    which ``margin_s`` (longer than any transaction, and than the clock skew between
    processes) covers; so the watermark is T − margin. An id made after it — a product
    another process created since — is never judged by the filter: the store is asked.
    That keeps one process's filter right without hearing of the others' creates (no
    Redis), and the periodic refresh moves the watermark on. An id whose time is in the
    future cannot exist yet: unknown without asking anybody.

    Never a source of truth: when the filter cannot answer, or its sentinel is gone, the
    answer is "maybe" and the store decides.
    """

    def __init__(
        self,
        ids_filter: ProductIdFilter,
        *,
        times: SnowflakeTimes,
        clock: Clock,
        margin_s: float = 60.0,
    ) -> None:
        self._filter = ids_filter
        self._times = times
        self._clock = clock
        self._margin_s = margin_s
        self._watermark: float | None = None
        self._scan_from = 0

    @property
    def watermark(self) -> float | None:
        """Ids made before this (epoch seconds) are decided by the filter; None: none are."""
        return self._watermark

    async def might_exist(self, product_id: int) -> bool:
        """False only when ``product_id`` is certainly no product's id."""
        issued = self._times.issued_at(product_id)
        if issued > self._clock.now() + self._margin_s:
            return False
        watermark = self._watermark
        if watermark is None or issued >= watermark:
            return True
        try:
            if await self._filter.might_contain(product_id):
                return True
            if not await self._filter.might_contain(KNOWN_IDS_SENTINEL):
                # The filter is gone (a flushed Redis): trust it again after a full refresh.
                self._watermark, self._scan_from = None, 0
                return True
        except Exception:
            return True
        return False

    async def add(self, product_id: int) -> None:
        """Learn a new id at once; if this fails, the next refresh adds it (it is too new
        for the filter to be asked about meanwhile)."""
        try:
            await self._filter.add(product_id)
        except Exception:
            return

    async def refresh(self, source: ProductIdSource) -> int:
        """Add every id made since the last refresh (all of them the first time).

        Returns:
            How many ids were added.
        """
        started = self._clock.now()
        try:
            built = await self._filter.might_contain(KNOWN_IDS_SENTINEL)
        except BloomFilterNotReadyError:
            built = False
        if built:
            added = 0
            async for page in _id_pages(source, self._scan_from):
                await self._filter.add_many(page)
                added += len(page)
        else:
            # Never built, or lost (a flushed Redis): build it whole. Ids created meanwhile
            # are past the new watermark, and the next refresh scans them.
            added = await self._filter.rebuild(_ids(source))
        await self._filter.add(KNOWN_IDS_SENTINEL)
        self._watermark = started - self._margin_s
        # The next scan starts a margin before this watermark: late commits land there.
        self._scan_from = self._times.first_id_at(self._watermark - self._margin_s)
        return added


async def _id_pages(source: ProductIdSource, from_id: int) -> AsyncIterator[list[int]]:
    while True:
        ids = await source.product_ids(from_id=from_id, limit=_REFRESH_PAGE)
        if ids:
            yield ids
            from_id = ids[-1] + 1
        if len(ids) < _REFRESH_PAGE:
            return


async def _ids(source: ProductIdSource) -> AsyncIterator[str | int]:
    async for page in _id_pages(source, 0):
        for product_id in page:
            yield product_id


@dataclass(frozen=True, slots=True)
class CachedPage:
    """One page of a product list as cached: the products (stock is added per read)."""

    products: list[Product]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ProductRead:
    """A product and how the cache served it (None: not through a cache)."""

    product: Product | None
    status: CacheStatus | None


class CatalogCache:
    """The catalog's caches and the one place that knows their keys."""

    def __init__(
        self,
        *,
        products: LayeredCache[Product],
        stock: LayeredCache[ProductStock],
        lists: LayeredCache[CachedPage],
        known_ids: KnownProductIds | None = None,
        on_filtered: Callable[[], None] | None = None,
    ) -> None:
        """Args:
        products: product by tenant and id (negative entries for unknown ones).
        stock: a product's stock figures, briefly.
        lists: product list pages, under per-tenant versioned keys.
        known_ids: the Bloom filter in front of product reads; None reads every id through.
        on_filtered: called for each read the filter answered (a metric).
        """
        self.products = products
        self.stock = stock
        self.lists = lists
        self.known_ids = known_ids
        self._on_filtered = on_filtered

    async def product(
        self, tenant_id: int, product_id: int, load: Callable[[], Awaitable[Product | None]]
    ) -> ProductRead:
        """The tenant's product, or None when it has none with this id."""
        if self.known_ids is not None and not await self.known_ids.might_exist(product_id):
            if self._on_filtered is not None:
                self._on_filtered()
            return ProductRead(None, CacheStatus.HIT)
        read: CacheRead[Product] = await self.products.get(
            _product_key(tenant_id, product_id), load
        )
        return ProductRead(read.value, read.status)

    async def product_stock(
        self,
        tenant_id: int,
        product_id: int,
        load: Callable[[], Awaitable[ProductStock | None]],
    ) -> ProductStock:
        read = await self.stock.get(_product_key(tenant_id, product_id), load)
        return read.value if read.value is not None else ProductStock(product_id)

    async def page(
        self,
        tenant_id: int,
        fingerprint: str,
        cursor: str | None,
        limit: int,
        load: Callable[[], Awaitable[CachedPage | None]],
    ) -> CacheRead[CachedPage]:
        """A list page under the tenant's current list version."""
        version = await self.lists.namespace_version(_tenant_namespace(tenant_id))
        digest = hashlib.blake2b(
            f"{fingerprint}\x1f{cursor or ''}\x1f{limit}".encode(), digest_size=16
        ).hexdigest()
        return await self.lists.get(f"{tenant_id}:v{version}:{digest}", load)

    async def product_changed(
        self, tenant_id: int, product_id: int, *, strict: bool = False
    ) -> None:
        """A product was created, changed or archived: drop it and the tenant's lists.

        Idempotent. A shared store that cannot be reached is skipped, its copies left to
        expire (lists within ``list_ttl_s``), unless ``strict``: then the list version
        that could not be moved on raises ``CacheStoreError``, so that the event consumer
        retries until it can.
        """
        await self.products.invalidate(_product_key(tenant_id, product_id))
        try:
            await self.lists.bump_namespace(_tenant_namespace(tenant_id))
        except CacheStoreError:
            if strict:
                raise
        if self.known_ids is not None:
            await self.known_ids.add(product_id)

    async def stock_changed(self, tenant_id: int, product_id: int) -> None:
        await self.stock.invalidate(_product_key(tenant_id, product_id))


def _product_key(tenant_id: int, product_id: int) -> str:
    return f"{tenant_id}:{product_id}"


def _tenant_namespace(tenant_id: int) -> str:
    return f"tenant:{tenant_id}"
