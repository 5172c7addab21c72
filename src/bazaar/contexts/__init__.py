"""Bounded contexts: each package is one context behind its facade (``bazaar.contexts.<name>``)."""

from __future__ import annotations

__all__: list[str] = []
