"""What ``LayeredCache`` keeps per key, and the L2 payload format of it."""

from __future__ import annotations

import struct
from typing import Generic, TypeVar

from bazaar.kernel.cache.policy import CacheRead, CacheStatus

__all__ = ["HEADER", "PAYLOAD_FORMAT", "Entry", "pack_header", "unpack_header"]

V = TypeVar("V")

# The L2 payload: a header, then the codec's bytes (none for a negative entry).
#   format (1 byte)     PAYLOAD_FORMAT; a reader skips payloads of any other format
#   flags (1 byte)      bit 0: negative ("not found")
#   fresh_until (f64)   epoch seconds (clock.now()): the one clock processes share
#   delta_s (f64)       how long the load took, for XFetch in every process
HEADER = struct.Struct("<BBdd")
PAYLOAD_FORMAT = 1
_NEGATIVE = 0x01


class Entry(Generic[V]):
    """One key's cached outcome, on this process's monotonic clock.

    ``hit`` is the ``CacheRead`` a fresh read answers, built once so an L1 hit allocates
    nothing.
    """

    __slots__ = ("delta_s", "fresh_until", "hit", "negative", "stale_until", "value")

    def __init__(
        self, value: V | None, *, fresh_until: float, stale_until: float, delta_s: float
    ) -> None:
        self.value = value
        self.negative = value is None
        self.fresh_until = fresh_until
        self.stale_until = stale_until
        self.delta_s = delta_s
        self.hit: CacheRead[V] = CacheRead(value, CacheStatus.HIT)


def pack_header(*, negative: bool, fresh_until_epoch: float, delta_s: float) -> bytes:
    """The L2 payload header of an entry.

    Args:
        negative: Whether the entry records "not found".
        fresh_until_epoch: When it stops being fresh, in epoch seconds.
        delta_s: How long its load took.

    Returns:
        ``HEADER.size`` bytes.
    """
    return HEADER.pack(PAYLOAD_FORMAT, _NEGATIVE if negative else 0, fresh_until_epoch, delta_s)


def unpack_header(payload: bytes) -> tuple[bool, float, float] | None:
    """Read an L2 payload's header.

    Args:
        payload: The bytes from the store.

    Returns:
        ``(negative, fresh_until_epoch, delta_s)``, or None if the payload is too short or of
        another format (another version of bazaar wrote it, or something else owns the key).
    """
    if len(payload) < HEADER.size:
        return None
    form, flags, fresh_until, delta_s = HEADER.unpack_from(payload)
    if form != PAYLOAD_FORMAT:
        return None
    return bool(flags & _NEGATIVE), fresh_until, delta_s
