"""What every command shares: loading settings with ``--set`` overrides, and error output."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from bazaar.settings import Settings, parse_overrides

__all__ = ["SetOption", "console", "err_console", "fail", "load_settings"]

console = Console()
err_console = Console(stderr=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a setting: --set key=value (nested with '.' or '__'), repeatable.",
        metavar="KEY=VALUE",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings(overrides: list[str] | None = None, **flags: Any) -> Settings:
    """Settings from the environment and bazaar.toml, then ``--set``, then command flags.

    A validation error is printed naming each key at fault, and the command exits 2.
    """
    try:
        init = parse_overrides(overrides or [])
    except ValueError as exc:
        fail(str(exc))
    init.update({k: v for k, v in flags.items() if v is not None})
    try:
        return Settings(**init)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"  {key}: {error['msg']}")
        fail("invalid settings\n" + "\n".join(lines))
