"""Domain events to envelopes: how a ``DomainEvent`` is written to the outbox.

The payload is the event's own fields (minus ``id`` and ``occurred_at``, which the envelope
carries), converted to JSON-safe values: ``Money`` as its JSON form, datetimes as ISO 8601,
enums as their values, ids as integers.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bazaar.kernel.domain import DomainEvent
from bazaar.kernel.messaging.envelope import Envelope
from bazaar.kernel.money import Money

__all__ = ["envelope_of", "payload_of"]

_ENVELOPE_FIELDS = frozenset({"id", "occurred_at"})


def _json_value(value: Any) -> Any:
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | frozenset | set):
        return [_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def payload_of(event: DomainEvent) -> dict[str, Any]:
    """The event's fields as a JSON-safe mapping (what consumers read)."""
    return {
        f.name: _json_value(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in _ENVELOPE_FIELDS
    }


def envelope_of(event: DomainEvent, headers: Mapping[str, str] | None = None) -> Envelope:
    """The envelope of one event; its id is the event id, its key the event's partition key."""
    return Envelope(
        id=str(event.id),
        type=event.type,
        version=event.version,
        key=event.partition_key,
        occurred_at=event.occurred_at,
        payload=payload_of(event),
        headers=dict(headers or {}),
    )
