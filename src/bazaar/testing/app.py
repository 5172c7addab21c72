"""An API app on a real database, migrated, with an httpx client: for tests and the tour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bazaar.api.app import create_app
from bazaar.bootstrap import Container, build_container
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import Clock
from bazaar.settings import Settings

__all__ = ["AppHarness", "running_app"]


@dataclass(slots=True)
class AppHarness:
    """A built container, the app around it and a client that talks to it in process."""

    container: Container
    client: httpx.AsyncClient


@asynccontextmanager
async def running_app(clock: Clock | None = None, **settings: Any) -> AsyncIterator[AppHarness]:
    """Migrate the database, build the container and app, yield a client; close everything.

    Args:
        clock: the time source (a ``ManualClock`` in tests that expire tokens).
        **settings: ``Settings`` fields (``data_dir``, ``database_url``, ``demo``, ...).
    """
    container = await build_container(Settings(**settings), clock=clock)
    try:
        await upgrade(container.database.engine)
        app = create_app(container)
        # raise_app_exceptions=False: a 500 must reach the test as the problem body the
        # server sends, exactly as a real client would see it.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://bazaar.test") as client:
            yield AppHarness(container=container, client=client)
    finally:
        await container.aclose()
