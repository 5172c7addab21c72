"""Orders application: the checkout saga and the service facade."""

from __future__ import annotations

__all__: list[str] = []
