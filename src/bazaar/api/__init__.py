"""The HTTP edge of the API process: app factory (``bazaar.api.app``), problem mapping, middleware.

Deliberately imports nothing: contexts' routes import ``bazaar.api.security`` and
``bazaar.api.problems``, while ``bazaar.api.app`` imports those routes; an eager import here
would make that a cycle.
"""

from __future__ import annotations

__all__: list[str] = []
