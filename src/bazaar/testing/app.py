"""An API app on a real database, migrated, with an httpx client: for tests and the tour."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bazaar.api.app import create_app
from bazaar.bootstrap import Container, build_container, build_identity_service
from bazaar.contexts.identity.adapters import Argon2PasswordHasher
from bazaar.infra.db.migrate import upgrade
from bazaar.kernel.clock import Clock
from bazaar.settings import Settings
from bazaar.testing.hashing import CHEAP_ARGON2

__all__ = ["AppHarness", "running_app"]


@dataclass(slots=True)
class AppHarness:
    """A built container, the app around it and a client that talks to it in process."""

    container: Container
    client: httpx.AsyncClient


@asynccontextmanager
async def running_app(
    clock: Clock | None = None,
    *,
    fast_password_hashing: bool = False,
    psp_transport: httpx.AsyncBaseTransport | None = None,
    before_app: Callable[[Container], None] | None = None,
    **settings: Any,
) -> AsyncIterator[AppHarness]:
    """Migrate the database, build the container and app, yield a client; close everything.

    Args:
        clock: the time source (a ``ManualClock`` in tests that expire tokens).
        fast_password_hashing: argon2id with tiny parameters (a default hash costs ~0.3 s
            of CPU; tests that are not about hashing should not pay it).
        psp_transport: carries the PSP client's requests (an ``httpx.ASGITransport``
            around an in-process simulator); None talks to ``psp_url``.
        before_app: adjusts the container before the app is built on it (swap an adapter
            for one in a state a test needs, e.g. a store whose server is down).
        **settings: ``Settings`` fields (``data_dir``, ``database_url``, ``demo``, ...).
    """
    container = await build_container(
        Settings(**settings), clock=clock, psp_transport=psp_transport
    )
    try:
        await upgrade(container.database.engine)
        if fast_password_hashing:
            container.identity = await build_identity_service(
                container.settings,
                container.clock,
                container.database,
                ids=container.ids,
                passwords=Argon2PasswordHasher(CHEAP_ARGON2),
            )
        if before_app is not None:
            before_app(container)
        app = create_app(container)
        # raise_app_exceptions=False: a 500 must reach the test as the problem body the
        # server sends, exactly as a real client would see it.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://bazaar.test") as client:
            yield AppHarness(container=container, client=client)
    finally:
        await container.aclose()
