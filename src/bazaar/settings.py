"""Settings: the only module that reads the environment (``BAZAAR_*``, ``__`` nesting, ``*_FILE``).

Sources, highest priority first: ``--set key=value`` overrides (passed as init arguments),
environment variables, ``*_FILE`` secret files, an optional ``bazaar.toml``, the defaults here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bazaar.kernel.ratelimit import RateLimit, RateLimitSpecError

__all__ = [
    "BreakerSettings",
    "CacheSettings",
    "DatabaseSettings",
    "JobsSettings",
    "MessagingSettings",
    "Settings",
    "parse_overrides",
]

ENV_PREFIX = "BAZAAR_"
# Rate-limit policies and their defaults (product.md "Settings"). ``default`` is generous on
# purpose: it stops one runaway client, not ordinary use; a deployment tightens it.
DEFAULT_RATE_LIMITS: dict[str, str] = {
    "default": "token_bucket:6000/60",
    "login": "fixed_window:5/900",
    "payments": "token_bucket:600/60",
    # Tenant plan tiers (capabilities §3.3's example): one allowance shared by every user of
    # a tenant the operator put on the plan; tenants on no plan have only the limits above.
    "plan_free": "sliding_window:100/3600",
    "plan_pro": "sliding_window:5000/3600",
}
# More tiers are policies named plan_<plan> (<plan> as a tenant's plan is spelled).
PLAN_POLICY_PREFIX = "plan_"
_PLAN_POLICY = re.compile(r"plan_[a-z][a-z0-9_]{0,31}")
RATE_LIMIT_OFF = "off"
# Settings whose value may instead come from a file named by ``BAZAAR_<NAME>_FILE``
# (Docker/Kubernetes secrets are mounted as files, never as environment variables).
DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql+asyncpg+pgbouncer")
SECRET_FIELDS = (
    "jwt_secret",
    "operator_key",
    "database_url",
    "redis_url",
    "smtp_url",
    "psp_api_key",
    "psp_webhook_secret",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Connection pool of the primary (and replica) engines."""

    pool_size: int = Field(default=10, ge=1, le=1000)
    max_overflow: int = Field(default=10, ge=0, le=1000)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_s: float = Field(default=5.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    echo: bool = False


class BreakerSettings(_Section):
    """Circuit-breaker thresholds shared by every outbound dependency."""

    cooldown_s: float = Field(default=30.0, gt=0)
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=10, ge=1)
    window_s: float = Field(default=10.0, gt=0)


class AuthSettings(_Section):
    """Token lifetimes and claims (capabilities §2.2)."""

    issuer: str = "bazaar"
    audience: str = "bazaar-api"
    access_token_ttl_s: int = Field(default=900, ge=10, le=86_400)
    refresh_token_ttl_s: int = Field(default=7 * 86_400, ge=60)
    # How long a process remembers who a bearer token belongs to (role, revocation, plan);
    # changes made in the same process are seen at once. 0: read it on every request.
    subject_cache_ttl_s: float = Field(default=1.0, ge=0, le=60)


class MessagingSettings(_Section):
    """Outbox relay, broker partitions and retention (capabilities §6.1–6.2)."""

    partitions: int = Field(default=8, ge=1, le=256)
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    relay_interval_s: float = Field(default=0.05, gt=0)
    lease_ttl_s: float = Field(default=10.0, gt=0)
    visibility_timeout_s: float = Field(default=5.0, gt=0)
    retention_s: float = Field(default=7 * 86_400.0, gt=0)
    max_stream_length: int = Field(default=1_000_000, ge=1000)


class JobsSettings(_Section):
    """Retries of consumers and jobs before a message is dead-lettered (§6.4, §6.6)."""

    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)


class CacheSettings(_Section):
    """The catalog's read caches (capabilities §8; docs/caching.md)."""

    enabled: bool = True
    l1_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    product_ttl_s: float = Field(default=300.0, gt=0)
    list_ttl_s: float = Field(default=30.0, gt=0)
    stock_ttl_s: float = Field(default=1.0, gt=0)
    negative_ttl_s: float = Field(default=30.0, gt=0)
    stale_ttl_s: float = Field(default=3600.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, lt=1)
    early_beta: float = Field(default=1.0, ge=0)
    lock_wait_s: float = Field(default=1.0, ge=0)
    bloom: bool = True
    bloom_expected_items: int = Field(default=1_000_000, ge=1)
    bloom_false_positive_rate: float = Field(default=0.01, gt=0, lt=1)
    bloom_refresh_s: float = Field(default=300.0, gt=0)
    views_flush_s: float = Field(default=5.0, gt=0)


class OrdersSettings(_Section):
    """The checkout saga's timeouts, retries and leases (capabilities §5.2–5.3)."""

    reservation_ttl_s: float = Field(default=900.0, gt=0)
    payment_attempts: int = Field(default=4, ge=1, le=20)
    payment_backoff_s: float = Field(default=0.5, gt=0)
    payment_backoff_max_s: float = Field(default=4.0, gt=0)
    step_timeout_s: float = Field(default=15.0, gt=0)
    saga_lease_s: float = Field(default=20.0, gt=0)
    saga_sweep_interval_s: float = Field(default=2.0, gt=0)
    # None: 4 on SQLite (one writer: more sagas only lengthen the queue requests wait in),
    # 32 on PostgreSQL.
    max_concurrent_sagas: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _lease_outlasts_steps(self) -> OrdersSettings:
        if self.saga_lease_s <= self.step_timeout_s:
            raise ValueError("saga_lease_s must be longer than step_timeout_s")
        return self


class TracingSettings(_Section):
    """Spans (capabilities §10.1): docs/observability.md."""

    enabled: bool = True
    # Share of new traces recorded; a request with a sampled traceparent is always recorded.
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # Recent traces kept in process for /api/v1/admin/traces; 0 keeps none.
    store_traces: int = Field(default=500, ge=0, le=100_000)


LogLevel = Literal["debug", "info", "warning", "error"]
# A logger name: dotted Python identifiers (``bazaar.access``, ``sqlalchemy.engine``).
_LOGGER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


# A CORS origin as browsers send it: scheme, host and optional port, lower case, no path.
_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:[0-9]{1,5})?")


class Settings(BaseSettings):
    """Every setting bazaar reads. See docs/settings.md for the table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Path(".bazaar")
    demo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = ""
    worker_id: int | None = Field(default=None, ge=0, le=1023)

    database_url: str = ""
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_url: str = ""
    broker: Literal["sqlite", "redis", ""] = ""
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)

    jwt_secret: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    operator_key: SecretStr | None = None

    psp_url: str = ""
    psp_port: int = Field(default=0, ge=0, le=65535)
    psp_timeout_s: float = Field(default=2.0, gt=0)
    psp_api_key: SecretStr | None = None
    psp_webhook_secret: SecretStr | None = None
    psp_max_concurrent: int = Field(default=32, ge=1)
    psp_max_queue: int = Field(default=64, ge=0)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)

    max_body_bytes: int = Field(default=1_048_576, ge=1)
    max_in_flight: int = Field(default=256, ge=1)
    request_timeout_s: float = Field(default=10.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    drain_delay_s: float = Field(default=0.0, ge=0)
    # Policy name -> "<algorithm>:<limit>/<seconds>" or "off"; merged over
    # DEFAULT_RATE_LIMITS by ``effective_rate_limits`` (capabilities §3.3).
    rate_limits: dict[str, str] = Field(default_factory=dict)
    # Peers whose X-Forwarded-For is believed when finding a client's IP (IPs or CIDRs).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    smtp_url: str = ""
    smtp_timeout_s: float = Field(default=5.0, gt=0)
    smtp_from: str = "bazaar <noreply@bazaar.localhost>"
    mail_sink_port: int = Field(default=0, ge=0, le=65535)
    # Hosts or CIDRs user-given URLs may reach despite the SSRF guard (local development).
    ssrf_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Per logger, over log_level: "bazaar.access=warning,sqlalchemy.engine=info".
    log_levels: Annotated[dict[str, LogLevel], NoDecode] = Field(default_factory=dict)
    log_json: bool = True
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    # An OTLP/HTTP collector (``http://host:4318``); spans go there as well when set.
    otlp_endpoint: str = ""

    @field_validator(
        "database_replica_urls", "cors_origins", "ssrf_allow", "trusted_proxies", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        # A trailing slash or a path never equals a browser's Origin header: refused here
        # rather than leaving CORS silently broken. "*" and "null" are refused too.
        origins = []
        for entry in value:
            origin = entry.lower()
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{ENV_PREFIX}CORS_ORIGINS: {entry!r} is not an origin; write "
                    "scheme://host[:port] without a path or trailing slash, one per origin "
                    "(e.g. https://shop.example)"
                )
            origins.append(origin)
        return origins

    @field_validator("database_url")
    @classmethod
    def _known_database_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if value and scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"scheme must be one of {', '.join(DATABASE_SCHEMES)} (got {scheme!r})"
            )
        return value

    @field_validator("log_levels", mode="before")
    @classmethod
    def _logger_levels(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        levels: dict[str, str] = {}
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            logger, separator, level = entry.partition("=")
            if not separator or not _LOGGER_NAME.fullmatch(logger.strip()):
                raise ValueError(f"expected logger=level pairs separated by commas (got {entry!r})")
            levels[logger.strip()] = level.strip().lower()
        return levels

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_collector(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"must be an http(s) URL of an OTLP/HTTP collector (got {value!r})")
        return value

    @field_validator("rate_limits")
    @classmethod
    def _known_rate_limit_policies(cls, value: dict[str, str]) -> dict[str, str]:
        checked: dict[str, str] = {}
        for name, spec in value.items():
            policy = name.lower()
            variable = f"{ENV_PREFIX}RATE_LIMITS__{policy.upper()}"
            if policy not in DEFAULT_RATE_LIMITS and not _PLAN_POLICY.fullmatch(policy):
                raise ValueError(
                    f"{variable}: unknown rate-limit policy {policy!r}; "
                    f"known: {', '.join(sorted(DEFAULT_RATE_LIMITS))}, or plan_<plan>"
                )
            spec = spec.strip()
            if spec.lower() != RATE_LIMIT_OFF:
                try:
                    RateLimit.parse(spec)
                except RateLimitSpecError as exc:
                    raise ValueError(f"{variable}: {exc}") from None
            checked[policy] = spec
        return checked

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{ENV_PREFIX}TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR"
                ) from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _known_smtp_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower()
        if value and scheme not in ("smtp", "smtps"):
            raise ValueError(f"scheme must be smtp or smtps (got {scheme!r})")
        return value

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is not None and len(secret) < 32 and not self.demo:
            raise ValueError("jwt_secret must be at least 32 characters outside demo mode")
        return self

    @property
    def effective_database_url(self) -> str:
        """The primary database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'bazaar.db').resolve()}"

    @property
    def effective_rate_limits(self) -> dict[str, RateLimit | None]:
        """Every policy's limit (None = switched off): the defaults with the settings over them."""
        specs = {**DEFAULT_RATE_LIMITS, **self.rate_limits}
        return {
            name: None if spec.lower() == RATE_LIMIT_OFF else RateLimit.parse(spec)
            for name, spec in specs.items()
        }

    @property
    def effective_broker(self) -> str:
        if self.broker:
            return self.broker
        return "redis" if self.redis_url else "sqlite"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("BAZAAR_CONFIG_FILE", "bazaar.toml"))
        return (
            init_settings,
            env_settings,
            SecretFileSettingsSource(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data with every secret replaced by ``'***'``."""
        data = self.model_dump(mode="json")
        for name in SECRET_FIELDS:
            if data.get(name):
                data[name] = _mask_url(data[name]) if name.endswith("_url") else "***"
        data["database_replica_urls"] = [_mask_url(u) for u in data["database_replica_urls"]]
        data["effective_database_url"] = _mask_url(self.effective_database_url)
        data["effective_broker"] = self.effective_broker
        return data


class SecretFileSettingsSource(PydanticBaseSettingsSource):
    """Reads ``BAZAAR_<NAME>_FILE`` for the secret settings (the file's content, stripped)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            file_var = f"{ENV_PREFIX}{name.upper()}_FILE"
            path = os.environ.get(file_var)
            if path:
                try:
                    values[name] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"{file_var}: cannot read {path}: {exc.strerror}") from exc
        return values


def _mask_url(url: str) -> str:
    """Hide the password of a URL (``scheme://user:***@host``), keep the rest readable."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``--set key=value`` pairs into nested init arguments.

    ``breaker.cooldown_s=5`` and ``breaker__cooldown_s=5`` both nest under ``breaker``.

    Raises:
        ValueError: a pair has no ``=`` or an empty key.
    """
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        parts = key.replace("__", ".").split(".")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = value
    return result
