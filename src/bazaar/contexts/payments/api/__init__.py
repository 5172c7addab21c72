"""The payments HTTP adapter: ``routes.router``, ``webhooks.webhooks_router``, ``schemas``."""

from __future__ import annotations

__all__: list[str] = []
