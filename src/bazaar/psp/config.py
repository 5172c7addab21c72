"""``PspConfig``: what one PSP simulator instance is built with (plain values, no settings)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ids import MAX_WORKER_ID

__all__ = ["DATABASE_FILE_NAME", "PspConfig", "sqlite_url_in"]

DATABASE_FILE_NAME = "psp.db"


def sqlite_url_in(data_dir: Path) -> str:
    """The URL of the simulator's SQLite file inside ``data_dir``."""
    return f"sqlite+aiosqlite:///{(data_dir / DATABASE_FILE_NAME).resolve()}"


@dataclass(frozen=True, slots=True)
class PspConfig:
    """One simulator's store, credentials, webhook target and card-token timings.

    Attributes:
        database_url: the simulator's own database; a SQLite file (``sqlite_url_in``). Not
            ``:memory:``: the writer and reader pools would each see a different database.
        api_key: callers send ``Authorization: Bearer <api_key>``.
        webhook_secret: the HMAC key of the ``Psp-Signature`` header.
        webhook_url: where signed webhooks are POSTed; None sends none.
        webhook_timeout_s: timeout of one delivery attempt.
        webhook_max_attempts: delivery attempts per event before giving up.
        webhook_backoff_s: wait before the 2nd attempt; doubles after each failure.
        slow_token_delay_s: how long ``tok_slow`` takes to answer.
        flaky_error_rate: probability that a ``tok_flaky`` authorization answers 503.
        worker_id: snowflake worker id of this instance's ids; distinct per instance when
            several simulators share one database.
        max_body_bytes: larger request bodies are refused before they are read.
    """

    database_url: str
    api_key: str
    webhook_secret: str
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0
    slow_token_delay_s: float = 5.0
    flaky_error_rate: float = 0.5
    worker_id: int = 0
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        _require(bool(self.database_url), "database_url", "must not be empty")
        _require(":memory:" not in self.database_url, "database_url", "use a file, not :memory:")
        _require(bool(self.api_key), "api_key", "must not be empty")
        _require(bool(self.webhook_secret), "webhook_secret", "must not be empty")
        if self.webhook_url is not None:
            _require(
                self.webhook_url.startswith(("http://", "https://")),
                "webhook_url",
                "must be an http:// or https:// URL",
            )
        _positive(self.webhook_timeout_s, "webhook_timeout_s")
        _require(self.webhook_max_attempts >= 1, "webhook_max_attempts", "must be at least 1")
        _non_negative(self.webhook_backoff_s, "webhook_backoff_s")
        _non_negative(self.slow_token_delay_s, "slow_token_delay_s")
        _require(0.0 <= self.flaky_error_rate <= 1.0, "flaky_error_rate", "must be within 0..1")
        _require(0 <= self.worker_id <= MAX_WORKER_ID, "worker_id", f"must be 0..{MAX_WORKER_ID}")
        _require(self.max_body_bytes >= 1024, "max_body_bytes", "must be at least 1024")

    @classmethod
    def in_data_dir(cls, data_dir: Path, **fields: Any) -> PspConfig:
        """A config whose database is ``psp.db`` inside ``data_dir``.

        Args:
            data_dir: the simulator's directory (created on first use of the database).
            **fields: the other fields (``api_key`` and ``webhook_secret`` are required).
        """
        return cls(database_url=sqlite_url_in(data_dir), **fields)


def _require(ok: bool, key: str, reason: str) -> None:
    if not ok:
        raise ConfigurationError(key, reason)


def _positive(value: float, key: str) -> None:
    _require(math.isfinite(value) and value > 0, key, f"must be a positive number, got {value}")


def _non_negative(value: float, key: str) -> None:
    _require(math.isfinite(value) and value >= 0, key, f"must not be negative, got {value}")
