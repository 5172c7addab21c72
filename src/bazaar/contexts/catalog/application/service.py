"""``CatalogService``: the catalog context's facade, the only way other code uses it.

Writes check every value before touching anything and run on a fresh unit of work each;
reads use the read model. Stock figures belong to inventory: a page of products asks the
``StockDirectory`` once for all of them (capabilities §7.3), never once per product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from bazaar.contexts.catalog.application.caching import CachedPage, CatalogCache, ProductRead
from bazaar.contexts.catalog.application.cursors import (
    CursorCodec,
    invalid_cursor,
    query_fingerprint,
)
from bazaar.contexts.catalog.application.ports import IdGenerator, StockDirectory, StockFigures
from bazaar.contexts.catalog.application.queries import (
    Keyset,
    ListProducts,
    ListReviews,
    Page,
    ProductDetails,
    ProductFilter,
    ProductSort,
    SortKey,
    datetime_from_micros,
    micros_from_datetime,
)
from bazaar.contexts.catalog.application.unit_of_work import CatalogReadModel, CatalogUnitOfWork
from bazaar.contexts.catalog.application.views import ProductViews, ViewCount
from bazaar.contexts.catalog.domain import model
from bazaar.contexts.catalog.domain.commands import (
    ArchiveProduct,
    CreateProduct,
    PostReview,
    SetStock,
    UpdateProduct,
)
from bazaar.contexts.catalog.domain.errors import (
    InvalidField,
    InvalidProductError,
    InvalidQueryError,
    InvalidReviewError,
    ProductNotFoundError,
    VersionMismatchError,
)
from bazaar.contexts.catalog.domain.events import (
    CatalogEvent,
    ProductArchived,
    ProductCreated,
    ProductUpdated,
)
from bazaar.contexts.catalog.domain.model import (
    Product,
    ProductChanges,
    ProductStatus,
    ProductStock,
    Review,
)
from bazaar.contexts.catalog.domain.search import search_terms
from bazaar.kernel.clock import Clock, utc_from_timestamp
from bazaar.kernel.money import Money

__all__ = ["MAX_STOCK", "CatalogService"]

# Units of one product; far above any shelf, well inside a 32-bit column.
MAX_STOCK = 1_000_000_000


class CatalogService:
    """Facade pattern over the catalog: products (merchant CRUD with optimistic
    concurrency), customer browse and search, reviews, and stock through inventory.

    ``include_hidden`` on reads is the caller's right to see drafts and archived products
    (merchants and admins); without it a hidden product is as unknown as a missing one.
    """

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], CatalogUnitOfWork],
        reads: CatalogReadModel,
        stock: StockDirectory,
        ids: IdGenerator,
        clock: Clock,
        cursors: CursorCodec,
        cache: CatalogCache | None = None,
        views: ProductViews | None = None,
    ) -> None:
        """Args:
        unit_of_work: a fresh unit of work per write.
        reads: the read model.
        stock: inventory's stock figures (the inventory facade).
        ids: the process's Snowflake generator.
        clock: the time of records.
        cursors: signs and checks page cursors.
        cache: cache-aside for product reads and lists (``caching``); None reads through.
        views: counts customers' product views, written behind (``views``); None counts none.
        """
        self._unit_of_work = unit_of_work
        self._reads = reads
        self._stock = stock
        self._ids = ids
        self._clock = clock
        self._cursors = cursors
        self._cache = cache
        self._views = views

    @property
    def cache(self) -> CatalogCache | None:
        return self._cache

    def _now(self) -> datetime:
        return utc_from_timestamp(self._clock.now())

    def _event(self, kind: type[CatalogEvent], product: Product, **fields: str) -> CatalogEvent:
        return kind(
            id=self._ids.next_id(),
            occurred_at=self._now(),
            tenant_id=product.tenant_id,
            product_id=product.id,
            product_version=product.version,
            **fields,
        )

    async def _changed(self, product: Product) -> None:
        """After a product's commit: every process drops its cached copies now (the event,
        consumed from the outbox, does it again should this process die first)."""
        if self._cache is not None:
            await self._cache.product_changed(product.tenant_id, product.id)

    # --- products: commands ---

    async def create_product(self, cmd: CreateProduct) -> ProductDetails:
        """Store a new product (version 1) and set its stock when ``cmd.stock`` is given.

        Stock is set first, under the new product's id: inventory commits on its own, and
        a stock row for an id no product ever got is harmless, whereas a product stored
        before a failed stock call would be a visible product with the wrong stock (and a
        client retrying the create would make a second one).

        Raises:
            InvalidProductError: a value breaks a rule (every problem is listed).
        """
        problems = [
            *model.name_problems(cmd.name),
            *model.description_problems(cmd.description),
            *model.price_problems(cmd.price),
            *model.category_problems(cmd.category),
            *model.attributes_problems(cmd.attributes),
        ]
        if cmd.stock is not None and not 0 <= cmd.stock <= MAX_STOCK:
            problems.append(_stock_problem("stock"))
        if problems:
            raise InvalidProductError(problems)
        now = self._now()
        product = Product(
            id=self._ids.next_id(),
            tenant_id=cmd.tenant_id,
            name=cmd.name,
            description=cmd.description,
            price=cmd.price,
            category=cmd.category,
            attributes=dict(cmd.attributes),
            status=cmd.status,
            version=1,
            created_at=now,
            updated_at=now,
        )
        stock = ProductStock(product.id)
        if cmd.stock is not None:
            figures = await self._stock.set_available(cmd.tenant_id, product.id, cmd.stock)
            stock = _stock(product.id, figures)
        uow = self._unit_of_work()
        async with uow:
            await uow.products.add(product)
            uow.events.append(self._event(ProductCreated, product, status=product.status.value))
            await uow.commit()
        await self._changed(product)
        return ProductDetails(product, stock)

    async def update_product(self, cmd: UpdateProduct) -> ProductDetails:
        """Apply the changes if the product is still at an expected version (version + 1).

        An update that changes nothing only checks the precondition.

        Raises:
            InvalidProductError: a changed value breaks a rule.
            ProductNotFoundError: not the tenant's product.
            VersionMismatchError: the product is at another version (a lost update avoided).
        """
        problems = cmd.changes.problems()
        if problems:
            raise InvalidProductError(problems)
        uow = self._unit_of_work()
        async with uow:
            if cmd.changes.is_empty():
                updated = await self._expect(
                    uow, cmd.tenant_id, cmd.product_id, cmd.expected_versions
                )
            else:
                found = await uow.products.update(
                    cmd.tenant_id,
                    cmd.product_id,
                    cmd.changes,
                    expected_versions=cmd.expected_versions,
                    at=self._now(),
                )
                if found is None:
                    raise await self._refusal(uow, cmd.tenant_id, cmd.product_id)
                updated = found
                uow.events.append(self._event(ProductUpdated, updated, status=updated.status.value))
                await uow.commit()
        if uow.committed:
            await self._changed(updated)
        return (await self.with_stock(cmd.tenant_id, [updated]))[0]

    async def archive_product(self, cmd: ArchiveProduct) -> Product:
        """Soft-delete: status ``archived`` (version + 1); archiving it again changes nothing.

        Raises:
            ProductNotFoundError: not the tenant's product.
            VersionMismatchError: the product is at another version.
        """
        uow = self._unit_of_work()
        async with uow:
            archived = await uow.products.update(
                cmd.tenant_id,
                cmd.product_id,
                ProductChanges(status=ProductStatus.ARCHIVED),
                expected_versions=cmd.expected_versions,
                at=self._now(),
                unless_status=ProductStatus.ARCHIVED,
            )
            if archived is None:
                # Unknown, another version, or archived already (then it is done).
                return await self._expect(uow, cmd.tenant_id, cmd.product_id, cmd.expected_versions)
            uow.events.append(self._event(ProductArchived, archived))
            await uow.commit()
        await self._changed(archived)
        return archived

    async def _refusal(
        self, uow: CatalogUnitOfWork, tenant_id: int, product_id: int
    ) -> ProductNotFoundError | VersionMismatchError:
        """Why a conditional update matched no row: no such product, or another version."""
        current = await uow.products.get(tenant_id, product_id)
        if current is None:
            return ProductNotFoundError(product_id)
        return VersionMismatchError(product_id, current.version)

    async def _expect(
        self,
        uow: CatalogUnitOfWork,
        tenant_id: int,
        product_id: int,
        expected_versions: frozenset[int] | None,
    ) -> Product:
        current = await uow.products.get(tenant_id, product_id)
        if current is None:
            raise ProductNotFoundError(product_id)
        if expected_versions is not None and current.version not in expected_versions:
            raise VersionMismatchError(product_id, current.version)
        return current

    async def set_stock(self, cmd: SetStock) -> ProductStock:
        """Set the product's available units (reservations stay as they are).

        Raises:
            InvalidProductError: ``available`` is negative or absurdly large.
            ProductNotFoundError: not the tenant's product.
        """
        if not 0 <= cmd.available <= MAX_STOCK:
            raise InvalidProductError([_stock_problem("available")])
        await self.get_product(cmd.tenant_id, cmd.product_id, include_hidden=True)
        figures = await self._stock.set_available(cmd.tenant_id, cmd.product_id, cmd.available)
        if self._cache is not None:
            await self._cache.stock_changed(cmd.tenant_id, cmd.product_id)
        return _stock(cmd.product_id, figures)

    # --- products: queries ---

    async def get_product(
        self, tenant_id: int, product_id: int, *, include_hidden: bool = False
    ) -> Product:
        """Raises: ProductNotFoundError (also for a hidden product without ``include_hidden``)."""
        read = await self.read_product(tenant_id, product_id, include_hidden=include_hidden)
        assert read.product is not None  # read_product raises rather than answer None
        return read.product

    async def read_product(
        self, tenant_id: int, product_id: int, *, include_hidden: bool = False
    ) -> ProductRead:
        """The product and how the cache served it (``X-Cache``).

        Raises:
            ProductNotFoundError: also for a hidden product without ``include_hidden``.
        """
        if self._cache is None:
            read = ProductRead(await self._reads.get_product(tenant_id, product_id), None)
        else:
            read = await self._cache.product(
                tenant_id, product_id, lambda: self._reads.get_product(tenant_id, product_id)
            )
        product = read.product
        if product is None or not (include_hidden or product.visible_to_customers):
            raise ProductNotFoundError(product_id)
        return read

    async def prices(self, tenant_id: int, product_ids: Sequence[int]) -> dict[int, Money]:
        """Today's price of each product on sale (active) among ``product_ids``; the others
        are left out. One query whatever the number (checkout's ``PriceList``)."""
        found = await self._reads.products_by_ids(tenant_id, product_ids)
        return {p.id: p.price for p in found if p.visible_to_customers}

    async def with_stock(self, tenant_id: int, products: Sequence[Product]) -> list[ProductDetails]:
        """The products with their stock, from one call to inventory for all of them."""
        if not products:
            return []
        levels = await self._stock.stock_levels(tenant_id, [p.id for p in products])
        return [
            ProductDetails(p, _stock(p.id, levels[p.id]) if p.id in levels else ProductStock(p.id))
            for p in products
        ]

    async def details(self, product: Product, *, live_stock: bool = False) -> ProductDetails:
        """One product with its stock: from the short-lived stock cache when there is one
        (a product page may show stock ``stock_ttl_s`` old; checkout reserves live), or
        from inventory with ``live_stock`` (merchants, who manage it, see it as it is)."""
        if self._cache is None or live_stock:
            return (await self.with_stock(product.tenant_id, [product]))[0]
        stock = await self._cache.product_stock(
            product.tenant_id,
            product.id,
            lambda: self._load_stock(product.tenant_id, product.id),
        )
        return ProductDetails(product, stock)

    def record_view(self, product: Product) -> None:
        """A customer looked at the product (counted in memory, flushed in batches)."""
        if self._views is not None:
            self._views.record(product.tenant_id, product.id)

    async def view_count(self, tenant_id: int, product_id: int) -> ViewCount:
        """The product's views: flushed, and counted by this process since its last flush.

        Raises:
            ProductNotFoundError: not the tenant's product.
        """
        await self.get_product(tenant_id, product_id, include_hidden=True)
        if self._views is None:
            return ViewCount(product_id, 0, 0)
        return await self._views.count(tenant_id, product_id)

    async def _load_stock(self, tenant_id: int, product_id: int) -> ProductStock:
        levels = await self._stock.stock_levels(tenant_id, [product_id])
        figures = levels.get(product_id)
        return ProductStock(product_id) if figures is None else _stock(product_id, figures)

    async def list_products(self, query: ListProducts) -> Page[ProductDetails]:
        """One page of the tenant's products, filtered and sorted as asked.

        Raises:
            InvalidQueryError: a price bound or the cursor cannot be used.
        """
        where = self._product_filter(query)
        fingerprint = where.fingerprint(query.sort)
        after = (
            None
            if query.cursor is None
            else _product_keyset(self._cursors.decode(query.cursor, fingerprint), query.sort)
        )
        if where.terms == () or where.statuses == frozenset():
            return Page([], None)  # nothing can match; no need to ask the database

        async def load() -> CachedPage:
            rows = await self._reads.list_products(
                where, query.sort, after=after, limit=query.limit + 1
            )
            page, more = rows[: query.limit], len(rows) > query.limit
            next_cursor = (
                self._cursors.encode(fingerprint, _product_position(page[-1], query.sort))
                if more
                else None
            )
            return CachedPage(page, next_cursor)

        if self._cache is None:
            cached, status = await load(), None
        else:
            read = await self._cache.page(
                query.tenant_id, fingerprint, query.cursor, query.limit, load
            )
            assert read.value is not None  # the loader always finds a page
            cached, status = read.value, read.status
        if query.with_stock:
            items = await self.with_stock(query.tenant_id, cached.products)
        else:
            items = [ProductDetails(p, None) for p in cached.products]
        return Page(items, cached.next_cursor, cache=status)

    def _product_filter(self, query: ListProducts) -> ProductFilter:
        statuses: frozenset[ProductStatus] | None
        if query.include_hidden:
            statuses = None if query.status is None else frozenset({query.status})
        else:
            # Customers see active products only, whatever they filter on.
            wanted = {ProductStatus.ACTIVE} if query.status is None else {query.status}
            statuses = frozenset(wanted & {ProductStatus.ACTIVE})
        min_micros = _price_bound(query.min_price, "min_price")
        max_micros = _price_bound(query.max_price, "max_price")
        if min_micros is not None and max_micros is not None and min_micros > max_micros:
            raise InvalidQueryError(
                [InvalidField("max_price", "must not be less than min_price", "range")]
            )
        return ProductFilter(
            tenant_id=query.tenant_id,
            statuses=statuses,
            category=query.category,
            min_price_micros=min_micros,
            max_price_micros=max_micros,
            terms=None if query.q is None else search_terms(query.q),
        )

    # --- reviews ---

    async def post_review(self, cmd: PostReview) -> Review:
        """Store a customer's review of an active product.

        Raises:
            InvalidReviewError: the rating or the text breaks a rule.
            ProductNotFoundError: not an active product of the tenant.
            DuplicateReviewError: the customer already reviewed it.
        """
        problems = model.review_problems(cmd.rating, cmd.text)
        if problems:
            raise InvalidReviewError(problems)
        review = Review(
            id=self._ids.next_id(),
            tenant_id=cmd.tenant_id,
            product_id=cmd.product_id,
            user_id=cmd.user_id,
            rating=cmd.rating,
            text=cmd.text,
            created_at=self._now(),
        )
        uow = self._unit_of_work()
        async with uow:
            product = await uow.products.get(cmd.tenant_id, cmd.product_id)
            if product is None or not product.visible_to_customers:
                raise ProductNotFoundError(cmd.product_id)
            await uow.reviews.add(review)
            await uow.commit()
        return review

    async def list_reviews(self, query: ListReviews) -> Page[Review]:
        """A product's reviews, newest first.

        Raises:
            ProductNotFoundError: not a product the caller may see.
            InvalidQueryError: the cursor cannot be used.
        """
        await self.get_product(
            query.tenant_id, query.product_id, include_hidden=query.include_hidden
        )
        fingerprint = _reviews_fingerprint(query.tenant_id, query.product_id)
        before_id: int | None = None
        if query.cursor is not None:
            position = self._cursors.decode(query.cursor, fingerprint)
            if len(position) != 1 or not isinstance(position[0], int):
                raise invalid_cursor("is not a cursor this server issued")
            before_id = position[0]
        rows = await self._reads.list_reviews(
            query.tenant_id, query.product_id, before_id=before_id, limit=query.limit + 1
        )
        page, more = rows[: query.limit], len(rows) > query.limit
        next_cursor = self._cursors.encode(fingerprint, [page[-1].id]) if more else None
        return Page(page, next_cursor)


def _stock(product_id: int, figures: StockFigures) -> ProductStock:
    return ProductStock(product_id, available=figures.available, reserved=figures.reserved)


def _stock_problem(field: str) -> InvalidField:
    return InvalidField(field, f"must be an integer from 0 to {MAX_STOCK}", "range")


def _price_bound(amount: Decimal | None, field: str) -> int | None:
    if amount is None:
        return None
    if not amount.is_finite() or amount < 0 or amount > model.MAX_PRICE:
        raise InvalidQueryError(
            [InvalidField(field, f"must be a decimal from 0 to {model.MAX_PRICE}", "range")]
        )
    micros = amount.scaleb(model.PRICE_SCALE)
    if micros != micros.to_integral_value():
        raise InvalidQueryError(
            [InvalidField(field, f"has more than {model.PRICE_SCALE} decimal places", "scale")]
        )
    return int(micros)


def _product_position(product: Product, sort: ProductSort) -> list[int | str]:
    match sort.key:
        case SortKey.PRICE:
            return [model.price_micros(product.price), product.id]
        case SortKey.CREATED_AT:
            return [micros_from_datetime(product.created_at), product.id]
        case SortKey.NAME:
            return [product.name, product.id]


def _product_keyset(position: tuple[int | str, ...], sort: ProductSort) -> Keyset:
    if len(position) != 2:
        raise invalid_cursor("is not a cursor this server issued")
    value, product_id = position
    if not isinstance(product_id, int):
        raise invalid_cursor("is not a cursor this server issued")
    if sort.key is SortKey.NAME and isinstance(value, str):
        return Keyset(value, product_id)
    if sort.key is SortKey.PRICE and isinstance(value, int):
        return Keyset(value, product_id)
    if sort.key is SortKey.CREATED_AT and isinstance(value, int):
        return Keyset(datetime_from_micros(value), product_id)
    raise invalid_cursor("is not a cursor this server issued")


def _reviews_fingerprint(tenant_id: int, product_id: int) -> str:
    return query_fingerprint("reviews", tenant_id, product_id)
