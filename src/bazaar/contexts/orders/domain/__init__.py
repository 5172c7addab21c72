"""Orders domain: the order, its commands, events and errors (no I/O)."""

from __future__ import annotations

__all__: list[str] = []
