"""The ``bazaar`` command-line interface (typer + rich)."""

from __future__ import annotations

from bazaar.cli.app import app, main

__all__ = ["app", "main"]
