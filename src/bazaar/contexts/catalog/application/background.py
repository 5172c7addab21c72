"""The catalog's background work in an API process (capabilities §8.2–8.5).

- **Invalidation messages**: another process changed a product and published the keys it
  dropped; this process drops its in-process copies of them (``drop_local``).
- **The Bloom filter's refresh**: once at start (until it completes, the filter is not
  consulted: every id is a "maybe"), then every ``refresh_s`` to move its watermark on.
- **View counts**: the write-behind counter's flush loop, with a final flush at shutdown.

Each runs as its own task; one that fails is logged and started again after a pause, so a
Redis outage delays invalidation messages but never stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bazaar.contexts.catalog.application.caching import CatalogCache, ProductIdSource
from bazaar.kernel.cache import InvalidationBus, WriteBehindCounter, route_invalidations
from bazaar.kernel.clock import Clock

__all__ = ["CatalogBackground"]

log = logging.getLogger(__name__)

_RESTART_PAUSE_S = 5.0


class CatalogBackground:
    """Starts and stops the catalog's background tasks (``start`` / ``aclose``)."""

    def __init__(
        self,
        *,
        cache: CatalogCache | None,
        bus: InvalidationBus | None,
        ids: ProductIdSource,
        views: WriteBehindCounter | None,
        clock: Clock,
        refresh_s: float,
    ) -> None:
        self._cache = cache
        self._bus = bus
        self._ids = ids
        self._views = views
        self._clock = clock
        self._refresh_s = refresh_s
        self._tasks: list[asyncio.Task[None]] = []
        self._views_stop = asyncio.Event()
        self._views_task: asyncio.Task[None] | None = None
        self.refreshed = asyncio.Event()

    @property
    def id_source(self) -> ProductIdSource:
        """Where the Bloom filter's refresh reads product ids from."""
        return self._ids

    @property
    def views(self) -> WriteBehindCounter | None:
        """The view-count counter (tests and the tour flush it by hand)."""
        return self._views

    def start(self) -> None:
        if self._tasks or self._views_task is not None:
            return
        cache = self._cache
        if cache is not None and self._bus is not None:
            bus = self._bus
            dropped = route_invalidations((cache.products, cache.stock, cache.lists))
            self._tasks.append(self._spawn("invalidation bus", lambda: bus.run(dropped)))
        if cache is not None and cache.known_ids is not None:
            self._tasks.append(self._spawn("known ids refresh", self._refresh_forever))
        if self._views is not None:
            self._views_stop.clear()
            self._views_task = asyncio.create_task(
                self._views.run(self._views_stop), name="catalog view counts"
            )

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._views_task is not None:
            # Stopping the counter flushes what it holds (the bounded loss is for crashes).
            self._views_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._views_task
            self._views_task = None
        if self._cache is not None:
            for layered in (self._cache.products, self._cache.stock, self._cache.lists):
                await layered.aclose()

    async def _refresh_forever(self) -> None:
        cache = self._cache
        known_ids = cache.known_ids if cache is not None else None
        assert known_ids is not None  # started only with a filter
        while True:
            await known_ids.refresh(self._ids)
            self.refreshed.set()
            await self._clock.sleep(self._refresh_s)

    def _spawn(self, what: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        async def supervised() -> None:
            while True:
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("catalog %s failed; starting it again", what)
                    await self._clock.sleep(_RESTART_PAUSE_S)

        return asyncio.create_task(supervised(), name=f"catalog {what}")
