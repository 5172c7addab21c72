"""Orders adapters: tables, the SQL repository and unit of work, the read model."""

from __future__ import annotations

__all__: list[str] = []
