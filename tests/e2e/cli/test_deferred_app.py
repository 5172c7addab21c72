"""The app of ``bazaar api --workers N``: each worker process builds its container in its
own lifespan, and runs what the API process owes the system (the saga sweep)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bazaar.cli.serve import DeferredApp
from bazaar.infra.db import create_database
from bazaar.infra.db.migrate import upgrade
from bazaar.settings import Settings


class TestDeferredApp:
    async def test_a_worker_sweeps_for_abandoned_sagas_until_shutdown(self, tmp_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'bazaar.db'}"
        database = create_database(url)
        await upgrade(database.engine)
        await database.dispose()
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
