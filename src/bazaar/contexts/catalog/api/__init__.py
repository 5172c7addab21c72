"""The catalog HTTP adapter: ``routes.router``, ``schemas``, ``problems``, ``etags``."""

from __future__ import annotations

__all__: list[str] = []
