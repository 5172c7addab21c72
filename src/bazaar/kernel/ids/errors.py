"""Errors raised while generating snowflake ids and encoding them in base62.

    KernelError                         (bazaar.kernel.errors)
    └── IdError
        ├── ClockMovedBackwardsError    the wall clock jumped back further than tolerated
        ├── WorkerIdOutOfRangeError     a worker id outside 0..1023
        ├── TimestampOutOfRangeError    the clock is before the epoch or past the 41-bit range
        └── InvalidBase62Error          text that is empty or not made of 0-9A-Za-z

Errors carry fields, not only messages, so callers never parse strings.
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = [
    "ClockMovedBackwardsError",
    "IdError",
    "InvalidBase62Error",
    "TimestampOutOfRangeError",
    "WorkerIdOutOfRangeError",
]


class IdError(KernelError):
    """An id could not be generated, decoded or encoded."""


class ClockMovedBackwardsError(IdError):
    """The clock went back further than the generator tolerates; ids could repeat.

    Both fields are milliseconds since the Unix epoch: ``last_ms`` is the latest time the
    clock had reported, ``now_ms`` the earlier time it reports now.
    """

    def __init__(self, last_ms: int, now_ms: int) -> None:
        super().__init__(
            f"clock moved backwards by {last_ms - now_ms} ms (from {last_ms} to {now_ms})"
        )
        self.last_ms = last_ms
        self.now_ms = now_ms


class WorkerIdOutOfRangeError(IdError):
    """A worker id does not fit the 10 bits a snowflake id reserves for it."""

    def __init__(self, worker_id: int, max: int) -> None:
        super().__init__(f"worker id {worker_id} is outside 0..{max}")
        self.worker_id = worker_id
        self.max = max


class TimestampOutOfRangeError(IdError):
    """The clock reads a time that the 41-bit timestamp field cannot hold for this epoch.

    ``timestamp_ms`` and ``epoch_ms`` are milliseconds since the Unix epoch.
    """

    def __init__(self, timestamp_ms: int, epoch_ms: int) -> None:
        super().__init__(
            f"timestamp {timestamp_ms} ms is outside the 41-bit range starting at epoch "
            f"{epoch_ms} ms"
        )
        self.timestamp_ms = timestamp_ms
        self.epoch_ms = epoch_ms


class InvalidBase62Error(IdError):
    """Text given to the base62 decoder is empty or holds a character outside 0-9A-Za-z."""

    def __init__(self, text: str) -> None:
        if not text:
            message = "base62 text is empty"
        else:
            bad = next((ch for ch in text if not ch.isascii() or not ch.isalnum()), text[0])
            message = f"invalid base62 text {text!r}: unexpected character {bad!r}"
        super().__init__(message)
        self.text = text
