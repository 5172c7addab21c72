"""The app of ``bazaar api --workers N``: each worker process builds its container in its
own lifespan, and runs what the API process owes the system (the saga sweep)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

from bazaar.cli.serve import DeferredApp
from bazaar.infra.db import create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.settings import Settings


async def migrated_sqlite(directory: Path) -> str:
    """The URL of a migrated SQLite database in ``directory``."""
    url = f"sqlite+aiosqlite:///{directory / 'bazaar.db'}"
    database = create_database(url)
    await upgrade(database.engine)
    await database.dispose()
    return url


class TestDeferredApp:
    async def test_a_worker_sweeps_for_abandoned_sagas_until_shutdown(self, tmp_path: Path) -> None:
        url = await migrated_sqlite(tmp_path)
        app = DeferredApp(Settings(data_dir=tmp_path, database_url=url, demo=True))
        started = asyncio.Event()
        supervisor_states: list[bool] = []

        async def serve() -> list[dict[str, Any]]:
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            inbox.put_nowait({"type": "lifespan.startup"})
            sent: list[dict[str, Any]] = []

            async def send(message: Any) -> None:
                sent.append(message)
                if message["type"] == "lifespan.startup.complete":
                    assert app.container is not None
                    supervisor_states.append(app.container.orders.supervisor.sweeping)
                    started.set()

            task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
            await started.wait()
            orders = app.container.orders if app.container is not None else None
            inbox.put_nowait({"type": "lifespan.shutdown"})
            await task
            assert orders is not None
            supervisor_states.append(orders.supervisor.sweeping)
            return sent

        sent = await serve()

        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        assert supervisor_states == [True, False]

    async def test_the_heap_built_by_start_up_is_frozen_when_asked(self, tmp_path: Path) -> None:
        """``worker_app`` asks for it: full collections then skip what start-up built."""
        url = await migrated_sqlite(tmp_path)
        app = DeferredApp(
            Settings(data_dir=tmp_path, database_url=url, demo=True), freeze_heap=True
        )
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        inbox.put_nowait({"type": "lifespan.startup"})
        frozen_at_startup: list[int] = []

        async def send(message: Any) -> None:
            if message["type"] == "lifespan.startup.complete":
                frozen_at_startup.append(gc.get_freeze_count())
                inbox.put_nowait({"type": "lifespan.shutdown"})

        assert gc.get_freeze_count() == 0
        try:
            await app({"type": "lifespan"}, inbox.get, send)
        finally:
            gc.unfreeze()  # the test process goes on: hand the objects back to the collector
        assert app.container is not None
        (frozen,) = frozen_at_startup
        assert frozen > 10_000  # the app, its models and the container, not a handful
