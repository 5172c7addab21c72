"""Engines and plumbing that serve the contexts through their ports."""

from __future__ import annotations

__all__: list[str] = []
