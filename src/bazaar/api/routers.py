"""The routers the API serves, one per context, in one explicit list."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["API_ROUTERS"]

API_ROUTERS: list[APIRouter] = []
