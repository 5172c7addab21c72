"""The HTTP edge of the API process: app factory, problem mapping, middleware."""

from __future__ import annotations

from bazaar.api.app import create_app

__all__ = ["create_app"]
