"""Product view counts in the database: the write-behind counter's sink, and their reads.

One flush is one transaction: an upsert per product adding the views counted since the
last flush (``views = views + excluded.views``), so flushes from several processes add up.
A flush that failed before its commit is offered again whole; one whose commit landed but
whose answer was lost (the connection dropped during COMMIT) is offered again too and
counted twice: view counts are at least once, a price stated in docs/caching.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bazaar.contexts.catalog.adapters.tables import product_views
from bazaar.kernel.sql import insert_for

__all__ = ["SqlProductViews"]


class SqlProductViews:
    """``CounterSink`` for view counts, and the stored totals."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions

    async def flush(self, counts: Mapping[str, int]) -> None:
        async with self._sessions() as session, session.begin():
            for key in sorted(counts):  # one lock order for every flusher
                tenant, product = key.split(":", 1)  # application.views.view_key
                insert = insert_for(session, product_views).values(
                    product_id=int(product), tenant_id=int(tenant), views=counts[key]
                )
                await session.execute(
                    insert.on_conflict_do_update(
                        index_elements=[product_views.c.product_id],
                        set_={"views": product_views.c.views + insert.excluded.views},
                    )
                )

    async def stored_views(self, tenant_id: int, product_id: int) -> int:
        t = product_views
        query = select(t.c.views).where(t.c.tenant_id == tenant_id, t.c.product_id == product_id)
        async with self._read_sessions() as session:
            views = (await session.execute(query)).scalar_one_or_none()
        return int(views or 0)
