"""``bazaar up`` (the whole system) and ``bazaar api`` (the HTTP API only)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
import uvicorn
from pydantic import SecretStr
from rich.table import Table

from bazaar.cli.common import SetOption, console, load_settings
from bazaar.cli.serve import DeferredApp, ServedApp, serve_until_signalled
from bazaar.settings import Settings, parse_overrides

if TYPE_CHECKING:
    from bazaar.bootstrap import Container
    from bazaar.infra.mail import MailSink

__all__ = ["api", "up"]

log = structlog.get_logger("bazaar.cli")

DEMO_BREAKER_COOLDOWN_S = 5.0
# Loopback only: the tour's webhook receiver runs on this host.
DEMO_SSRF_ALLOW = ("127.0.0.1/32", "::1/128")
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


async def _with_mail_sink(settings: Settings) -> tuple[Settings, MailSink | None]:
    """Settings pointing at a mail sink that ``up`` starts, unless an SMTP URL is set.

    The sink listens on loopback only, on ``mail_sink_port`` (0: a free port, so it never
    collides with anything; the URL is printed and handed to the API through the settings),
    and keeps what it receives under ``<data dir>/mail``, where ``GET /api/v1/admin/mail``
    reads it.
    """
    if settings.smtp_url:
        return settings, None
    from bazaar.infra.mail import MailSink

    sink = MailSink(settings.data_dir / "mail", "127.0.0.1", settings.mail_sink_port)
    await sink.start()
    return settings.model_copy(update={"smtp_url": sink.url}), sink


def _demo_defaults(settings: Settings) -> Settings:
    """Demo mode's defaults, each only where the setting was not given.

    The breaker cooldown shortens to 5 s so the tour shows recovery, and ``ssrf_allow``
    opens loopback (``127.0.0.1/32``, ``::1/128``) so the tour can register its local
    webhook receiver; outside demo mode the SSRF guard refuses loopback like any private
    address.
    """
    if not settings.demo:
        return settings
    update: dict[str, Any] = {}
    if "cooldown_s" not in settings.breaker.model_fields_set:
        update["breaker"] = settings.breaker.model_copy(
            update={"cooldown_s": DEMO_BREAKER_COOLDOWN_S}
        )
    if "ssrf_allow" not in settings.model_fields_set:
        update["ssrf_allow"] = list(DEMO_SSRF_ALLOW)
    return settings.model_copy(update=update) if update else settings


async def _run_system(settings: Settings, *, migrate: bool, simulator: bool = False) -> None:
    from bazaar.api.app import create_app
    from bazaar.bootstrap import build_container
    from bazaar.infra.db.migrate import upgrade

    started_at = time.perf_counter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    psp: ServedApp | None = None
    sink: MailSink | None = None
    if simulator:
        settings, psp = _with_simulator(_demo_defaults(settings))
        settings, sink = await _with_mail_sink(settings)
    try:
        container = await build_container(settings)
    except BaseException:
        if sink is not None:
            await sink.stop()
        raise
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
            mail_note = "(mail sink started by up)" if sink is not None else "(external)"
            smtp_url = settings.masked()["smtp_url"] or "not configured"
            table.add_row("SMTP", f"{smtp_url} {mail_note}")
            if sink is not None:
                table.add_row("mail", f"{base}/api/v1/admin/mail")
            if simulator:
                table.add_row(
                    "workers",
                    f"outbox relay, consumers, cron (broker: {settings.effective_broker})",
                )
            table.add_row("data dir", str(settings.data_dir.resolve()))
            table.add_row("database", settings.masked()["effective_database_url"])
            mode = "demo" if settings.demo else "production"
            elapsed = time.perf_counter() - started_at
            console.print(f"[bold green]bazaar is up[/] ({mode} mode, ready in {elapsed:.2f} s)")
            console.print(table)
            console.print("Ctrl-C or SIGTERM drains in-flight requests and stops.")
            if settings.demo and simulator:
                demo_task = asyncio.get_running_loop().create_task(_announce_demo_shop(container))
                background.add(demo_task)
                demo_task.add_done_callback(background.discard)

        background: set[asyncio.Task[None]] = set()
        # `up` runs the workers beside the API, in this process and event loop.
        worker_stop = asyncio.Event()
        worker_task: asyncio.Task[None] | None = None
        if simulator:
            from bazaar.bootstrap import build_worker

            worker_task = asyncio.create_task(build_worker(container).run(worker_stop))
        try:
            await serve_until_signalled(
                served,
                container.lifecycle,
                grace_s=settings.shutdown_grace_s,
                drain_delay_s=settings.drain_delay_s,
                log_level=settings.log_level,
                on_started=announce,
            )
        finally:
            # After the API drained: events of its last requests are still relayed if the
            # relay gets to them; whatever it does not is published by the next start.
            worker_stop.set()
            if worker_task is not None:
                await asyncio.gather(worker_task, return_exceptions=True)
            # A demo shop still being seeded is stopped before the engines close (the next
            # start seeds it again: demo.json is written only once it is complete).
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
    finally:
        try:
            await container.aclose()
        finally:
            # Last: the API and the workers have drained and sent what they were sending.
            if sink is not None:
                await sink.stop()
    console.print("bazaar stopped cleanly.")


async def _announce_demo_shop(container: Container) -> None:
    """Seed the demo shop (first start only) and print its accounts."""
    from bazaar.cli.demo_data import seed_demo_shop

    try:
        shop = await seed_demo_shop(container)
    except Exception:  # the system runs on without demo data; say why
        log.exception("demo data could not be seeded")
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("tenant", shop.tenant_id)
    table.add_row("merchant", f"{shop.merchant_email} / {shop.password}")
    table.add_row("customer", f"{shop.customer_email} / {shop.password}")
    table.add_row("admin", f"{shop.admin_email} / {shop.password}")
    console.print(f"[bold]demo shop[/] ready ({shop.products or 'existing'} products)")
    console.print(table)


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
    configure_logging(settings.log_level, json=settings.log_json, levels=settings.log_levels)
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
    configure_logging(settings.log_level, json=settings.log_json, levels=settings.log_levels)
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
    configure_logging(settings.log_level, json=settings.log_json, levels=settings.log_levels)
    return DeferredApp(settings, freeze_heap=True)
