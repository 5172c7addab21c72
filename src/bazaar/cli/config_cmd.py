"""``bazaar config show``: the effective settings, secrets masked."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from bazaar.cli.common import SetOption, console, load_settings

__all__ = ["app"]

app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "rate_limits":
            rows.extend(_flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows


@app.command("show")
def show(
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the effective settings (environment, bazaar.toml, --set), secrets masked."""
    settings = load_settings(set_)
    data = settings.masked()
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return
    table = Table(title="bazaar settings", show_lines=False)
    table.add_column("setting", style="bold", overflow="fold")
    table.add_column("environment variable", style="dim", overflow="fold")
    table.add_column("value", overflow="fold")
    for name, value in sorted(_flatten(data)):
        env = "BAZAAR_" + name.replace(".", "__").upper()
        table.add_row(name, env, "" if value is None else str(value))
    console.print(table)
