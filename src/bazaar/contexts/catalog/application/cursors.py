"""Opaque, tamper-evident page cursors: a keyset position signed with HMAC-SHA256.

A cursor is ``<payload>.<tag>``, both base64url without padding. The payload is compact
JSON ``{"p": [sort value, id], "f": fingerprint}``; ``f`` identifies the filters and sort
the cursor was made for, and the tag is the first 128 bits of HMAC-SHA256 over the payload
under a server key. A client cannot move a cursor (or build one) without the key, and a
cursor brought to another query — other filters, another sort, another tenant — is
refused with its own message rather than quietly paging something else. Cursors do not
expire: a keyset position stays meaningful however long it is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence

from bazaar.contexts.catalog.domain.errors import InvalidField, InvalidQueryError

__all__ = ["MAX_CURSOR_LENGTH", "CursorCodec", "invalid_cursor", "query_fingerprint"]

MAX_CURSOR_LENGTH = 1024
_TAG_BYTES = 16
_MIN_KEY_BYTES = 32

Position = tuple[int | str, ...]


def invalid_cursor(message: str) -> InvalidQueryError:
    return InvalidQueryError([InvalidField("cursor", message, "invalid_cursor")])


def query_fingerprint(*parts: object) -> str:
    """A short digest naming a query (what it lists, filters, order), for ``CursorCodec``.

    ``parts`` must be JSON values; the same parts always give the same fingerprint.
    """
    canonical = json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs keyset positions into cursors and reads them back (pure: no I/O, no clock)."""

    def __init__(self, key: bytes) -> None:
        """Args:
        key: at least 32 bytes of secret; every process serving the API needs the same.

        Raises:
            ValueError: the key is too short.
        """
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"a cursor key needs at least {_MIN_KEY_BYTES} bytes")
        self._key = key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, fingerprint: str, position: Sequence[int | str]) -> str:
        """The cursor for the page after ``position`` of the query ``fingerprint`` names."""
        payload = json.dumps(
            {"p": list(position), "f": fingerprint}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload))}"

    def decode(self, cursor: str, fingerprint: str) -> Position:
        """The position ``cursor`` holds, if this server made it for this very query.

        Raises:
            InvalidQueryError: on ``cursor``: malformed, altered, or made for another query.
        """
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise invalid_cursor("is not a cursor this server issued")
        encoded_payload, encoded_tag = cursor.split(".")
        try:
            payload = _b64decode(encoded_payload)
            tag = _b64decode(encoded_tag)
        except (binascii.Error, ValueError) as exc:
            raise invalid_cursor("is not a cursor this server issued") from exc
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise invalid_cursor("has been altered or was not issued by this server")
        try:
            data = json.loads(payload)
        except ValueError as exc:  # signed by us, so only a change of format gets here
            raise invalid_cursor("is not a cursor this server issued") from exc
        if not isinstance(data, dict) or data.get("f") != fingerprint:
            raise invalid_cursor(
                "belongs to a different query (filters, sort or tenant changed); "
                "start again without a cursor"
            )
        position = data.get("p")
        if not isinstance(position, list) or not all(
            isinstance(part, int | str) and not isinstance(part, bool) for part in position
        ):
            raise invalid_cursor("is not a cursor this server issued")
        return tuple(position)
