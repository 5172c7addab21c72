"""Codecs shipped with the cache: raw bytes, UTF-8 text and JSON (orjson)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson

__all__ = ["BytesCodec", "JsonCodec", "TextCodec"]

V = TypeVar("V")


class BytesCodec:
    """Values that are bytes already (implements ``Codec[bytes]``)."""

    def encode(self, value: bytes) -> bytes:
        """``value`` itself."""
        return value

    def decode(self, data: bytes) -> bytes:
        """``data`` itself."""
        return data


class TextCodec:
    """``str`` values as UTF-8 (implements ``Codec[str]``)."""

    def encode(self, value: str) -> bytes:
        """``value`` in UTF-8."""
        return value.encode()

    def decode(self, data: bytes) -> str:
        """``data`` read as UTF-8."""
        return data.decode()


class JsonCodec(Generic[V]):
    """Values as JSON through orjson (implements ``Codec[V]``).

    With no hooks, values are what orjson writes and reads (dicts, lists, str, numbers,
    dataclasses on the way in). ``to_json`` and ``from_json`` convert typed values (a
    pydantic model's ``model_dump`` / ``model_validate``) at the boundary.
    """

    __slots__ = ("_from_json", "_to_json")

    def __init__(
        self,
        *,
        to_json: Callable[[V], Any] | None = None,
        from_json: Callable[[Any], V] | None = None,
    ) -> None:
        """Create a codec.

        Args:
            to_json: Turns a value into something orjson can write; None writes it as is.
            from_json: Turns what orjson read back into a value; None returns it as is.
        """
        self._to_json = to_json
        self._from_json = from_json

    def encode(self, value: V) -> bytes:
        """``value`` as JSON bytes."""
        return orjson.dumps(value if self._to_json is None else self._to_json(value))

    def decode(self, data: bytes) -> V:
        """The value written as ``data``."""
        loaded = orjson.loads(data)
        if self._from_json is None:
            return loaded  # type: ignore[no-any-return]  # untyped codec: V is what was written
        return self._from_json(loaded)
