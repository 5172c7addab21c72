"""``bazaar worker``: the outbox relay, the consumers and the scheduled jobs (no HTTP)."""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Annotated

import typer

from bazaar.cli.common import SetOption, console, fail, load_settings

__all__ = ["parse_autoscale", "worker"]

_RANGE = re.compile(r"^(\d{1,3})\.\.(\d{1,3})$")


def parse_autoscale(value: str) -> tuple[int, int]:
    """``MIN..MAX`` → (min, max), with 1 <= MIN <= MAX.

    Raises:
        ValueError: not of that form.
    """
    match = _RANGE.match(value.strip())
    if match is None:
        raise ValueError(f"--autoscale expects MIN..MAX (e.g. 1..8), got {value!r}")
    low, high = int(match[1]), int(match[2])
    if not 1 <= low <= high:
        raise ValueError(f"--autoscale needs 1 <= MIN <= MAX, got {value!r}")
    return low, high


async def _run(settings_overrides: list[str] | None, autoscale: tuple[int, int] | None) -> None:
    from bazaar.bootstrap import build_container, build_worker
    from bazaar.cli.serve import freeze_startup_heap
    from bazaar.kernel.messaging import AutoscalePolicy

    settings = load_settings(settings_overrides)
    container = await build_container(settings)
    policy = (
        None if autoscale is None else AutoscalePolicy(minimum=autoscale[0], maximum=autoscale[1])
    )
    runtime = build_worker(container, autoscale=policy)
    freeze_startup_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scaling = "" if autoscale is None else f", autoscaling {autoscale[0]}..{autoscale[1]}"
    console.print(
        f"[bold green]bazaar worker is running[/] as {container.messaging.holder} "
        f"(broker: {settings.effective_broker}{scaling}). Ctrl-C or SIGTERM stops it."
    )
    try:
        await runtime.run(stop)
    finally:
        await container.aclose()
    console.print("bazaar worker stopped cleanly.")


def worker(
    autoscale: Annotated[
        str | None,
        typer.Option(
            "--autoscale",
            metavar="MIN..MAX",
            help="Scale each consumer between MIN and MAX partition tasks by backlog.",
        ),
    ] = None,
    set_: SetOption = None,
) -> None:
    """Run the outbox relay, the consumers and the scheduled jobs (run as many as you like).

    Migrations are not applied here: run `bazaar db upgrade` once per release.
    """
    from bazaar.cli.serve_cmd import run_async
    from bazaar.kernel.observability.logging import configure_logging

    bounds = None
    if autoscale is not None:
        try:
            bounds = parse_autoscale(autoscale)
        except ValueError as exc:
            fail(str(exc))
    settings = load_settings(set_)
    configure_logging(settings.log_level, json=settings.log_json, levels=settings.log_levels)
    run_async(_run(set_, bounds))
