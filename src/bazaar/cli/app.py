"""The root ``bazaar`` command and its sub-commands."""

from __future__ import annotations

import typer

from bazaar.cli import config_cmd, db_cmd, dlq_cmd, psp_cmd, serve_cmd, tour_cmd, worker_cmd

__all__ = ["app", "main"]

app = typer.Typer(
    name="bazaar",
    help="bazaar: a multi-tenant commerce backend built from the backend system-design playbook.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(serve_cmd.up)
app.command("api")(serve_cmd.api)
app.command("worker")(worker_cmd.worker)
app.add_typer(dlq_cmd.app, name="dlq")
app.add_typer(db_cmd.app, name="db")
app.add_typer(config_cmd.app, name="config")
app.command("tour")(tour_cmd.tour)
app.command("psp")(psp_cmd.psp)


def main() -> None:
    """Console-script entry point."""
    app()
