"""The webhooks HTTP adapter: ``routes.router``, ``schemas``, ``problems``."""

from __future__ import annotations

__all__: list[str] = []
