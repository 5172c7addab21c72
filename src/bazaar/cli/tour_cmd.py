"""``bazaar tour``: run the pattern scenarios against a running system."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bazaar.cli.common import console, fail, load_settings
from bazaar.tour import SCENARIOS, TourConfig, run_scenarios

__all__ = ["tour"]


def tour(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="Scenario names (default: all).")
    ] = None,
    url: Annotated[
        str, typer.Option("--url", help="Base URL of the running system.")
    ] = "http://127.0.0.1:8000",
    operator_key: Annotated[
        str | None,
        typer.Option(
            "--operator-key",
            help="Needed to create tenants unless the system runs with --demo "
            "(default: the operator_key setting).",
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
) -> None:
    """Drive scripted scenarios against a running system and print what happened."""
    if list_:
        for name, scenario in SCENARIOS.items():
            console.print(
                f"[bold]{name:<16}[/] {scenario.concept}  [dim]({scenario.capability})[/]"
            )
        return
    names = scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        fail(f"unknown scenario(s): {', '.join(unknown)}; see `bazaar tour --list`")
    if operator_key is None:
        configured = load_settings().operator_key
        operator_key = configured.get_secret_value() if configured else None
    config = TourConfig(base_url=url.rstrip("/"), operator_key=operator_key)
    results = asyncio.run(run_scenarios([SCENARIOS[n] for n in names], config, console))
    if not all(results.values()):
        raise typer.Exit(1)
