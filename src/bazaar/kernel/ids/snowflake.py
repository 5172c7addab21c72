"""Snowflake ids: 64-bit integers, time-ordered, unique per worker, made without coordination."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bazaar.kernel.clock import Clock
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ids.errors import (
    ClockMovedBackwardsError,
    TimestampOutOfRangeError,
    WorkerIdOutOfRangeError,
)

__all__ = [
    "DEFAULT_EPOCH_MS",
    "DEFAULT_MAX_BACKWARDS_MS",
    "MAX_SEQUENCE",
    "MAX_SNOWFLAKE_ID",
    "MAX_TIMESTAMP_MS",
    "MAX_WORKER_ID",
    "SnowflakeGenerator",
    "SnowflakeParts",
    "decompose",
    "id_to_datetime",
]

# Layout, most significant bit first: 1 sign bit (always 0, so ids stay positive in signed
# 64-bit columns) | 41 bits of ms since the epoch | 10 bits of worker id | 12 bits of sequence.
_TIMESTAMP_BITS = 41
_WORKER_ID_BITS = 10
_SEQUENCE_BITS = 12
_WORKER_ID_SHIFT = _SEQUENCE_BITS
_TIMESTAMP_SHIFT = _SEQUENCE_BITS + _WORKER_ID_BITS

MAX_TIMESTAMP_MS = (1 << _TIMESTAMP_BITS) - 1  # about 69.7 years after the epoch
MAX_WORKER_ID = (1 << _WORKER_ID_BITS) - 1
MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1
MAX_SNOWFLAKE_ID = (1 << (_TIMESTAMP_BITS + _TIMESTAMP_SHIFT)) - 1

DEFAULT_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: a recent epoch leaves more range
DEFAULT_MAX_BACKWARDS_MS = 5

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SnowflakeParts:
    """The fields packed into one snowflake id (a value object).

    Attributes:
        timestamp_ms: When the id was made, in milliseconds since the Unix epoch.
        worker_id: The worker that made it, 0..1023.
        sequence: Its position among the ids that worker made in that millisecond, 0..4095.
    """

    timestamp_ms: int
    worker_id: int
    sequence: int


class SnowflakeGenerator:
    """Snowflake id generator (Twitter's Snowflake pattern): time | worker id | sequence.

    Ids from one generator are strictly increasing and unique; ids from generators with
    distinct worker ids never collide; ids from all workers sort roughly by creation time.

    Two deliberate departures from a naive implementation:

    * Sequence overflow (more than 4096 ids in one millisecond) does not wait for the clock.
      The generator borrows the next millisecond logically: its internal ``last_ms`` moves
      one ahead and the sequence restarts at 0. Sleeping or spinning would put a stall in a
      hot path, and with an injected clock that does not move on its own (``ManualClock``)
      spinning would never end. Borrowed milliseconds are repaid as the real clock catches
      up: while it is behind ``last_ms`` the generator keeps counting on ``last_ms``. Ids run
      ahead of the wall clock only under a sustained rate above 4.096 million per second.
    * A clock that steps back a little (NTP slew, VM migration) is tolerated: up to
      ``max_backwards_ms`` behind the latest reading the generator keeps counting on
      ``last_ms``, so ids still increase. A larger jump raises ``ClockMovedBackwardsError``
      rather than risk repeating ids. The jump is measured against the latest time the
      clock reported, not against ``last_ms``, so borrowing far ahead is never mistaken
      for a clock going backwards.

    Thread-safe: adapters call ``next_id`` from worker threads, so the read-modify-write of
    the state, including the clock read, happens under one ``threading.Lock``.
    """

    def __init__(
        self,
        worker_id: int,
        clock: Clock,
        epoch_ms: int = DEFAULT_EPOCH_MS,
        *,
        max_backwards_ms: int = DEFAULT_MAX_BACKWARDS_MS,
    ) -> None:
        """Create a generator for one worker.

        Args:
            worker_id: This worker's id, 0..1023; must be unique among live generators.
            clock: Where the wall-clock time comes from.
            epoch_ms: The custom epoch, in milliseconds since the Unix epoch.
            max_backwards_ms: How far back the clock may step without an error.

        Raises:
            WorkerIdOutOfRangeError: If ``worker_id`` is outside 0..1023.
            ConfigurationError: If ``epoch_ms`` or ``max_backwards_ms`` is negative.
        """
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise WorkerIdOutOfRangeError(worker_id, MAX_WORKER_ID)
        if epoch_ms < 0:
            raise ConfigurationError("epoch_ms", f"must not be negative, got {epoch_ms}")
        if max_backwards_ms < 0:
            raise ConfigurationError(
                "max_backwards_ms", f"must not be negative, got {max_backwards_ms}"
            )
        self._worker_id = worker_id
        self._clock = clock
        self._epoch_ms = epoch_ms
        self._max_backwards_ms = max_backwards_ms
        self._worker_bits = worker_id << _WORKER_ID_SHIFT
        self._lock = threading.Lock()
        # -1: nothing generated yet. _last_ms is the logical millisecond of the last id and
        # may run ahead of the clock after borrowing; _clock_high_ms is the latest the clock
        # has actually reported, the reference for backwards jumps.
        self._last_ms = -1
        self._clock_high_ms = -1
        self._sequence = 0

    @property
    def worker_id(self) -> int:
        """This generator's worker id."""
        return self._worker_id

    @property
    def epoch_ms(self) -> int:
        """This generator's custom epoch, in milliseconds since the Unix epoch."""
        return self._epoch_ms

    def next_id(self) -> int:
        """Return a new id, greater than every id this generator returned before.

        Returns:
            A positive 64-bit integer.

        Raises:
            ClockMovedBackwardsError: If the clock went back more than ``max_backwards_ms``.
            TimestampOutOfRangeError: If the clock is before the epoch or the id's timestamp
                would not fit 41 bits.
        """
        with self._lock:
            # The clock is read under the lock: a thread preempted between reading and
            # locking would otherwise bring back a stale time and look like a backwards jump.
            now_ms = self._read_clock_ms()
            if now_ms < self._epoch_ms:
                raise TimestampOutOfRangeError(now_ms, self._epoch_ms)
            if now_ms < self._clock_high_ms - self._max_backwards_ms:
                raise ClockMovedBackwardsError(self._clock_high_ms, now_ms)

            if now_ms > self._last_ms:
                ms, sequence = now_ms, 0
            elif self._sequence < MAX_SEQUENCE:
                # Same millisecond, a tolerated step back, or a clock still behind a borrowed
                # millisecond: keep counting on last_ms so ids keep increasing.
                ms, sequence = self._last_ms, self._sequence + 1
            else:
                # Sequence exhausted: borrow the next millisecond instead of waiting for it.
                ms, sequence = self._last_ms + 1, 0

            elapsed_ms = ms - self._epoch_ms
            if elapsed_ms > MAX_TIMESTAMP_MS:
                raise TimestampOutOfRangeError(ms, self._epoch_ms)

            # Commit only once the id is known to be valid, so a raise leaves state intact.
            self._clock_high_ms = max(self._clock_high_ms, now_ms)
            self._last_ms = ms
            self._sequence = sequence
            return (elapsed_ms << _TIMESTAMP_SHIFT) | self._worker_bits | sequence

    def decompose(self, snowflake_id: int) -> SnowflakeParts:
        """Split an id made with this generator's epoch into its fields.

        Args:
            snowflake_id: An id, 0..2**63-1.

        Returns:
            Its timestamp (Unix ms), worker id and sequence.

        Raises:
            ValueError: If ``snowflake_id`` is negative or wider than 63 bits.
        """
        return decompose(snowflake_id, epoch_ms=self._epoch_ms)

    def _read_clock_ms(self) -> int:
        # Round to whole microseconds before truncating to milliseconds: epoch seconds as a
        # float carry noise (1704067200.002 reads back as ...200.0019999), and plain
        # truncation would land such readings one millisecond early.
        return round(self._clock.now() * 1_000_000) // 1_000


def decompose(snowflake_id: int, *, epoch_ms: int = DEFAULT_EPOCH_MS) -> SnowflakeParts:
    """Split a snowflake id into its timestamp, worker id and sequence.

    Args:
        snowflake_id: An id, 0..2**63-1.
        epoch_ms: The custom epoch the id was made with, in milliseconds since the Unix epoch.

    Returns:
        Its timestamp (Unix ms), worker id and sequence.

    Raises:
        ValueError: If ``snowflake_id`` is negative or wider than 63 bits.
    """
    if not 0 <= snowflake_id <= MAX_SNOWFLAKE_ID:
        raise ValueError(f"a snowflake id is in 0..{MAX_SNOWFLAKE_ID}, got {snowflake_id}")
    return SnowflakeParts(
        timestamp_ms=(snowflake_id >> _TIMESTAMP_SHIFT) + epoch_ms,
        worker_id=(snowflake_id >> _WORKER_ID_SHIFT) & MAX_WORKER_ID,
        sequence=snowflake_id & MAX_SEQUENCE,
    )


def id_to_datetime(snowflake_id: int, *, epoch_ms: int = DEFAULT_EPOCH_MS) -> datetime:
    """Return when a snowflake id was made, as a timezone-aware UTC datetime.

    Args:
        snowflake_id: An id, 0..2**63-1.
        epoch_ms: The custom epoch the id was made with, in milliseconds since the Unix epoch.

    Returns:
        The id's timestamp, exact to the millisecond.

    Raises:
        ValueError: If ``snowflake_id`` is negative or wider than 63 bits.
    """
    timestamp_ms = decompose(snowflake_id, epoch_ms=epoch_ms).timestamp_ms
    # timedelta arithmetic is exact; going through float seconds could round the millisecond.
    return _UNIX_EPOCH + timedelta(milliseconds=timestamp_ms)


def first_id_at(unix_ms: int, *, epoch_ms: int = DEFAULT_EPOCH_MS) -> int:
    """The smallest id any generator with this epoch makes at ``unix_ms`` (or later).

    Ids are ordered by their time first, so ``id >= first_id_at(t)`` selects exactly the ids
    made at ``t`` or later: a primary-key range scan instead of a timestamp column.

    Args:
        unix_ms: A time, milliseconds since the Unix epoch; clamped to the ids' range.
        epoch_ms: The custom epoch the ids are made with.
    """
    offset = min(max(0, unix_ms - epoch_ms), MAX_TIMESTAMP_MS)
    return offset << _TIMESTAMP_SHIFT
