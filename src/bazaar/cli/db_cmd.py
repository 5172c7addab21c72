"""``bazaar db …``: migrations."""

from __future__ import annotations

import asyncio

import typer

from bazaar.cli.common import SetOption, console, load_settings
from bazaar.infra.db import create_database
from bazaar.infra.db.migrate import current_revision, head_revision, upgrade

__all__ = ["app"]

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(
    revision: str = typer.Argument("head", help="Target revision."),
    set_: SetOption = None,
) -> None:
    """Apply migrations up to REVISION (default: head) on BAZAAR_DATABASE_URL."""
    settings = load_settings(set_)

    async def run() -> tuple[str | None, str | None]:
        database = create_database(settings.effective_database_url)
        try:
            before = await current_revision(database.engine)
            await upgrade(database.engine, revision)
            return before, await current_revision(database.engine)
        finally:
            await database.dispose()

    before, after = asyncio.run(run())
    console.print(f"database at [bold]{after}[/] (was {before or 'empty'})")


@app.command("current")
def current_cmd(set_: SetOption = None) -> None:
    """Print the database's revision and the newest one this version ships."""
    settings = load_settings(set_)

    async def run() -> str | None:
        database = create_database(settings.effective_database_url)
        try:
            return await current_revision(database.engine)
        finally:
            await database.dispose()

    current = asyncio.run(run())
    head = head_revision()
    state = "up to date" if current == head else "needs `bazaar db upgrade`"
    console.print(f"current: {current or 'empty'}  head: {head}  ({state})")
