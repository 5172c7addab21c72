"""Security audit log: identity events as structured log lines (ids only, never secrets)."""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog

from bazaar.contexts.identity.domain.events import IdentityEvent, RefreshTokenReuseDetected

__all__ = ["AuditLogListener"]


class AuditLogListener:
    """Event listener (pybreaker's listener pattern) that writes one log line per event.

    Reuse of a refresh token is logged as a warning: it means a token was stolen or a
    client is broken, and either deserves a look.
    """

    def __init__(self, logger_name: str = "bazaar.identity.audit") -> None:
        self._log = structlog.get_logger(logger_name)

    def __call__(self, event: IdentityEvent) -> None:
        fields: dict[str, Any] = {
            f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "id"
        }
        fields["event_id"] = event.id
        if isinstance(event, RefreshTokenReuseDetected):
            self._log.warning(event.type, **fields)
        else:
            self._log.info(event.type, **fields)
