"""Reusable building blocks: they import only the standard library and third-party libraries."""

from __future__ import annotations

__all__: list[str] = []
