"""The identity HTTP adapter: ``routes`` (``router``, ``well_known_router``) and ``schemas``."""

from __future__ import annotations

__all__: list[str] = []
