"""Snowflake ids (64-bit, time-ordered, per-worker) and their base62 text form."""

from __future__ import annotations

from bazaar.kernel.ids.base62 import FIXED_WIDTH, decode, encode, encode_fixed
from bazaar.kernel.ids.errors import (
    ClockMovedBackwardsError,
    IdError,
    InvalidBase62Error,
    TimestampOutOfRangeError,
    WorkerIdOutOfRangeError,
)
from bazaar.kernel.ids.snowflake import (
    DEFAULT_EPOCH_MS,
    DEFAULT_MAX_BACKWARDS_MS,
    MAX_SEQUENCE,
    MAX_SNOWFLAKE_ID,
    MAX_WORKER_ID,
    SnowflakeGenerator,
    SnowflakeParts,
    decompose,
    first_id_at,
    id_to_datetime,
)

__all__ = [
    "DEFAULT_EPOCH_MS",
    "DEFAULT_MAX_BACKWARDS_MS",
    "FIXED_WIDTH",
    "MAX_SEQUENCE",
    "MAX_SNOWFLAKE_ID",
    "MAX_WORKER_ID",
    "ClockMovedBackwardsError",
    "IdError",
    "InvalidBase62Error",
    "SnowflakeGenerator",
    "SnowflakeParts",
    "TimestampOutOfRangeError",
    "WorkerIdOutOfRangeError",
    "decode",
    "decompose",
    "encode",
    "encode_fixed",
    "first_id_at",
    "id_to_datetime",
]
