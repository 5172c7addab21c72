"""Serving: uvicorn servers in one asyncio loop, with a drain on SIGTERM/Ctrl-C (§4.5)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

from bazaar.api.middleware._asgi import Message, Receive, Scope, Send
from bazaar.bootstrap import Container, Lifecycle, build_container
from bazaar.settings import Settings

__all__ = [
    "DeferredApp",
    "ManagedServer",
    "ServedApp",
    "freeze_startup_heap",
    "serve_until_signalled",
]


def freeze_startup_heap() -> None:
    """Collect once, then move every object still alive into the permanent generation.

    Why: what start-up builds (modules, the FastAPI app and its models, SQLAlchemy's
    metadata, the container) is most of a server's heap and lives as long as the process,
    yet every full collection traversed all of it: a ~130 ms pause of the event loop every
    few seconds under load, which all in-flight requests waited out (measured with the PSP
    breaker open: checkout p99 20-80 ms with a 136 ms maximum, 25 ms after the freeze; see
    docs/benchmarks.md, "payments"). Frozen objects are still freed by reference counting;
    only the cycle collector stops looking at them.
    """
    gc.collect()
    gc.freeze()


class ManagedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the supervisor.

    uvicorn re-raises a captured SIGTERM after shutting down, which would end the process
    with status 143; bazaar drains, closes its resources and exits 0 instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(slots=True)
class ServedApp:
    """One ASGI app on one port."""

    name: str
    app: Any
    host: str
    port: int


def _server(served: ServedApp, grace_s: float, log_level: str) -> ManagedServer:
    config = uvicorn.Config(
        served.app,
        host=served.host,
        port=served.port,
        log_config=None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(grace_s)),
        lifespan="on",
        server_header=False,
        proxy_headers=False,
    )
    return ManagedServer(config)


async def serve_until_signalled(
    apps: Sequence[ServedApp],
    lifecycle: Lifecycle,
    *,
    grace_s: float,
    drain_delay_s: float = 0.0,
    log_level: str = "info",
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve ``apps`` until SIGTERM/SIGINT, then drain them one after the other and return.

    The drain: ``/readyz`` turns 503 at once (so a balancer stops sending), new connections
    are still accepted for ``drain_delay_s`` (the balancer's reaction time), then listeners
    close and in-flight requests get ``grace_s`` to finish. A second signal forces exit.
    """
    servers = [_server(a, grace_s, log_level) for a in apps]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            for server in servers:
                server.force_exit = True
            return
        lifecycle.begin_drain()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    tasks = [
        asyncio.create_task(s.serve(), name=f"serve:{a.name}")
        for s, a in zip(servers, apps, strict=True)
    ]
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]  # checked not None above
                raise RuntimeError("a server stopped before it started")
            await asyncio.sleep(0.01)
        freeze_startup_heap()  # every app's lifespan has built what it keeps
        if on_started is not None:
            on_started()
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        lifecycle.begin_drain()
        if drain_delay_s > 0:
            await asyncio.sleep(drain_delay_s)
        # Stop in the order given: the API first, so its in-flight requests can still
        # reach the dependencies served beside it (the PSP simulator) while they drain.
        for server, task in zip(servers, tasks, strict=True):
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        lifecycle.drained.set()


class DeferredApp:
    """An ASGI app that builds its container at lifespan startup (for ``--workers N``).

    uvicorn's worker processes import the app by name; the container (engines, keys) must
    be built inside each worker's own event loop, not at import time.
    """

    def __init__(self, settings: Settings, *, freeze_heap: bool = False) -> None:
        self.settings = settings
        self.freeze_heap = freeze_heap  # after start-up: see ``freeze_startup_heap``
        self.container: Container | None = None
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.app is None:
            raise RuntimeError("the app is served before lifespan startup completed")
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        from bazaar.api.app import create_app

        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.container = await build_container(self.settings)
                    self.app = create_app(self.container)
                except Exception as exc:  # reported to uvicorn, which exits the worker
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                # What the FastAPI app's own lifespan does, which this wrapper replaces.
                self.container.start_api_work()
                if self.freeze_heap:
                    freeze_startup_heap()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.container is not None:
                    await self.container.stop_api_work(self.settings.shutdown_grace_s)
                    await self.container.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
