"""Commands of the webhooks context: what a merchant asks of it (imperative, frozen)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["Command", "RegisterEndpoint", "ReplayDelivery"]


def _command_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base of every command; ``id`` correlates one request across logs."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    id: str = field(default_factory=_command_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterEndpoint(Command):
    """Send events of ``event_types`` of the tenant to ``url``."""

    type: ClassVar[str] = "webhooks.register_endpoint"
    tenant_id: int
    url: str
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayDelivery(Command):
    """Attempt a failed or abandoned delivery again, now."""

    type: ClassVar[str] = "webhooks.replay_delivery"
    tenant_id: int
    endpoint_id: int
    delivery_id: int
