"""Observability: turns the kernel blocks' events into metrics, spans and logs."""

from __future__ import annotations

__all__: list[str] = []
