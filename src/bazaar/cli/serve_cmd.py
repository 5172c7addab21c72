"""``bazaar up`` (the whole system) and ``bazaar api`` (the HTTP API only)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import SecretStr
from rich.table import Table

from bazaar.cli.common import SetOption, console, load_settings
from bazaar.cli.serve import DeferredApp, ServedApp, serve_until_signalled
from bazaar.settings import Settings, parse_overrides

__all__ = ["api", "up"]

DEMO_BREAKER_COOLDOWN_S = 5.0
SWITCH_INTERVAL_S = 0.0005

PortOption = Annotated[int | None, typer.Option("--port", help="Port of the API.")]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Where SQLite files, keys and mail live.")
]


def _with_simulator(settings: Settings) -> tuple[Settings, ServedApp | None]:
    """Settings pointing at a PSP simulator that ``up`` starts, unless a PSP URL is set.

    The simulator gets fresh credentials each start (it lives only as long as this process)
    and sends its webhooks back to this API.
    """
    if settings.psp_url:
        return settings, None
    from bazaar.psp import PspConfig, create_psp_app

    port = settings.psp_port or settings.port + 1
    api_key = "psp_" + secrets.token_urlsafe(24)
    webhook_secret = "whsec_" + secrets.token_urlsafe(24)
    config = PspConfig.in_data_dir(
        settings.data_dir / "psp",
        api_key=api_key,
        webhook_secret=webhook_secret,
        webhook_url=f"http://{settings.host}:{settings.port}/api/v1/webhooks/psp",
    )
    served = ServedApp("psp", create_psp_app(config), settings.host, port)
    updated = settings.model_copy(
        update={
            "psp_url": f"http://{settings.host}:{port}",
            "psp_api_key": SecretStr(api_key),
            "psp_webhook_secret": SecretStr(webhook_secret),
        }
    )
    return updated, served


def _demo_defaults(settings: Settings) -> Settings:
    """Demo mode shortens the breaker cooldown to 5 s (unless set) so the tour shows recovery."""
    if not settings.demo or "cooldown_s" in settings.breaker.model_fields_set:
        return settings
    breaker = settings.breaker.model_copy(update={"cooldown_s": DEMO_BREAKER_COOLDOWN_S})
    return settings.model_copy(update={"breaker": breaker})


async def _run_system(settings: Settings, *, migrate: bool, simulator: bool = False) -> None:
    from bazaar.api.app import create_app
    from bazaar.bootstrap import build_container
    from bazaar.infra.db.migrate import upgrade

    started_at = time.perf_counter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    psp: ServedApp | None = None
    if simulator:
        settings, psp = _with_simulator(_demo_defaults(settings))
    container = await build_container(settings)
    try:
        if migrate:
            await upgrade(container.database.engine)
        api = ServedApp("api", create_app(container), settings.host, settings.port)
        served = [api] if psp is None else [api, psp]

        def announce() -> None:
            base = settings.public_url or f"http://{settings.host}:{settings.port}"
            table = Table(show_header=False, box=None, pad_edge=False)
            table.add_row("API", f"{base}/api/v1")
            table.add_row("API docs", f"{base}/docs")
            table.add_row("OpenAPI", f"{base}/openapi.json")
            table.add_row("health", f"{base}/healthz  {base}/readyz")
            table.add_row("metrics", f"{base}/metrics")
            psp_note = "(simulator started by up)" if psp is not None else "(external)"
            table.add_row("PSP", f"{settings.psp_url or 'not configured'} {psp_note}")
            table.add_row("data dir", str(settings.data_dir.resolve()))
            table.add_row("database", settings.masked()["effective_database_url"])
            mode = "demo" if settings.demo else "production"
            elapsed = time.perf_counter() - started_at
            console.print(f"[bold green]bazaar is up[/] ({mode} mode, ready in {elapsed:.2f} s)")
            console.print(table)
            console.print("Ctrl-C or SIGTERM drains in-flight requests and stops.")

        await serve_until_signalled(
            served,
            container.lifecycle,
            grace_s=settings.shutdown_grace_s,
            drain_delay_s=settings.drain_delay_s,
            log_level=settings.log_level,
            on_started=announce,
        )
    finally:
        await container.aclose()
    console.print("bazaar stopped cleanly.")


def up(
    demo: Annotated[
        bool, typer.Option("--demo", help="Demo mode: open tenant creation, demo data.")
    ] = False,
    port: PortOption = None,
    data_dir: DataDirOption = None,
    set_: SetOption = None,
) -> None:
    """Run the whole system in one process tree on SQLite files under the data dir."""
    from bazaar.kernel.observability.logging import configure_logging

    settings = load_settings(set_, demo=True if demo else None, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, json=settings.log_json)
    run_async(_run_system(settings, migrate=True, simulator=True))


def api(
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="API worker processes.")
    ] = 1,
    port: PortOption = None,
    set_: SetOption = None,
) -> None:
    """Run the HTTP API only (stateless; run many behind a balancer).

    Migrations are not applied here: run `bazaar db upgrade` once per release.
    """
    from bazaar.kernel.observability.logging import configure_logging

    settings = load_settings(set_, port=port)
    configure_logging(settings.log_level, json=settings.log_json)
    if workers == 1:
        run_async(_run_system(settings, migrate=False))
        return
    # Worker processes are spawned by uvicorn and build their settings from the
    # environment: hand the --set overrides and flags down as BAZAAR_* variables.
    _export_overrides(set_ or [], port=port)
    uvicorn.run(
        "bazaar.cli.serve_cmd:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        server_header=False,
    )


def run_async(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's event loop on uvloop when it is installed (uvicorn[standard] brings it).

    uvicorn picks uvloop itself only when it creates the loop; bazaar creates its own loop
    to supervise several servers, so it makes the same choice here.
    """
    # aiosqlite runs each statement on a thread that must win the GIL back from the busy
    # event loop; at CPython's default 5 ms switch interval that wait, not SQLite, dominated
    # a request's database time under concurrency (measured: p50 44 -> see docs/benchmarks).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _export_overrides(pairs: list[str], *, port: int | None) -> None:
    def export(prefix: str, data: dict[str, object]) -> None:
        for key, value in data.items():
            name = f"{prefix}{key.upper()}"
            if isinstance(value, dict):
                export(name + "__", value)
            else:
                os.environ[name] = str(value)

    export("BAZAAR_", parse_overrides(pairs))
    if port is not None:
        os.environ["BAZAAR_PORT"] = str(port)


def worker_app() -> DeferredApp:
    """uvicorn factory for ``--workers N``: each worker process builds its own container."""
    from bazaar.kernel.observability.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return DeferredApp(settings)
