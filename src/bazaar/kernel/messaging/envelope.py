"""The message envelope: what travels through the outbox, the broker and the dead letters.

An envelope is self-describing (capabilities §6.5): ``type`` names the schema, ``version``
its revision, ``id`` makes redeliveries recognisable, ``key`` decides the partition (order is
kept per key) and ``headers`` carry cross-cutting context such as the W3C ``traceparent``.
It is encoded as one JSON object (orjson), so every broker stores plain bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bazaar.kernel.messaging.errors import MalformedMessageError

__all__ = ["MAX_ENVELOPE_BYTES", "Envelope"]

# A message is a fact about one aggregate, not a file transfer: anything larger is refused
# at decode time and dead-lettered as malformed instead of being handled.
MAX_ENVELOPE_BYTES = 256 * 1024

_REQUIRED = ("id", "type", "version", "key", "occurred_at", "payload")


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One message: an event or a job, with the metadata every consumer needs.

    The payload is JSON: integers must fit in 64 bits (ids do), amounts travel as strings.
    """

    id: str
    type: str
    version: int
    key: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        """The topic of a type: its first dotted part (``payments.payment_succeeded``)."""
        return self.type.split(".", 1)[0]

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "type": self.type,
                "version": self.version,
                "key": self.key,
                "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
                "headers": dict(self.headers),
                "payload": self.payload,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        """Parse and validate; anything that is not a well-formed envelope raises.

        Raises:
            MalformedMessageError: not JSON, too large, a field missing or of the wrong type.
        """
        if len(data) > MAX_ENVELOPE_BYTES:
            raise MalformedMessageError(f"{len(data)} bytes is over {MAX_ENVELOPE_BYTES}")
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise MalformedMessageError(f"not JSON ({exc.msg})") from None
        if not isinstance(raw, dict):
            raise MalformedMessageError("not a JSON object")
        missing = [name for name in _REQUIRED if name not in raw]
        if missing:
            raise MalformedMessageError(f"missing {', '.join(missing)}")
        headers = raw.get("headers", {})
        checks = (
            (isinstance(raw["id"], str) and raw["id"] != "", "id must be a non-empty string"),
            (isinstance(raw["type"], str) and raw["type"] != "", "type must be a string"),
            (
                isinstance(raw["version"], int)
                and not isinstance(raw["version"], bool)
                and raw["version"] >= 1,
                "version must be an integer >= 1",
            ),
            (isinstance(raw["key"], str), "key must be a string"),
            (isinstance(raw["payload"], dict), "payload must be an object"),
            (
                isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()),
                "headers must map names to strings",
            ),
        )
        for ok, reason in checks:
            if not ok:
                raise MalformedMessageError(reason)
        try:
            occurred_at = datetime.fromisoformat(raw["occurred_at"])
        except (TypeError, ValueError):
            raise MalformedMessageError("occurred_at must be an ISO 8601 timestamp") from None
        if occurred_at.tzinfo is None:
            raise MalformedMessageError("occurred_at must carry a UTC offset")
        return cls(
            id=raw["id"],
            type=raw["type"],
            version=raw["version"],
            key=raw["key"],
            occurred_at=occurred_at,
            payload=raw["payload"],
            headers=headers,
        )
