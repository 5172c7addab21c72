"""Settings: environment with ``__`` nesting, ``*_FILE`` secrets, bazaar.toml, ``--set``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bazaar.settings import Settings, parse_overrides


class TestSettingsSources:
    def test_defaults_match_product_md(self) -> None:
        settings = Settings()
        assert settings.psp_timeout_s == 2.0
        assert settings.breaker.cooldown_s == 30
        assert (settings.breaker.failure_rate, settings.breaker.min_calls) == (0.5, 10)
        assert settings.breaker.window_s == 10
        assert settings.max_body_bytes == 1_048_576
        assert settings.max_in_flight == 256
        assert settings.demo is False
        assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
        assert settings.effective_database_url.endswith("/.bazaar/bazaar.db")
        assert settings.effective_broker == "sqlite"

    def test_reads_nested_environment_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BAZAAR_BREAKER__COOLDOWN_S", "5")
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__LOGIN", "fixed_window:5/900")
        monkeypatch.setenv(
            "BAZAAR_DATABASE_REPLICA_URLS", "postgresql+asyncpg://a/x, postgresql+asyncpg://b/x"
        )
        settings = Settings()
        assert settings.breaker.cooldown_s == 5
        assert settings.rate_limits == {"login": "fixed_window:5/900"}
        assert settings.database_replica_urls == [
            "postgresql+asyncpg://a/x",
            "postgresql+asyncpg://b/x",
        ]

    def test_redis_url_switches_the_default_broker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BAZAAR_REDIS_URL", "redis://127.0.0.1:6379/0")
        assert Settings().effective_broker == "redis"

    def test_reads_secrets_from_files(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        secret_file = tmp_path / "jwt"
        secret_file.write_text("s" * 40 + "\n")
        monkeypatch.setenv("BAZAAR_JWT_SECRET_FILE", str(secret_file))
        settings = Settings()
        assert settings.jwt_secret is not None
        assert settings.jwt_secret.get_secret_value() == "s" * 40

    def test_an_unreadable_secret_file_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("BAZAAR_OPERATOR_KEY_FILE", str(tmp_path / "missing"))
        with pytest.raises(ValueError, match="BAZAAR_OPERATOR_KEY_FILE"):
            Settings()

    def test_reads_bazaar_toml(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        toml = tmp_path / "bazaar.toml"
        toml.write_text("port = 9001\n[breaker]\ncooldown_s = 12\n")
        monkeypatch.setenv("BAZAAR_CONFIG_FILE", str(toml))
        settings = Settings()
        assert settings.port == 9001
        assert settings.breaker.cooldown_s == 12

    def test_environment_beats_toml_and_overrides_beat_both(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        toml = tmp_path / "bazaar.toml"
        toml.write_text("port = 9001\n")
        monkeypatch.setenv("BAZAAR_CONFIG_FILE", str(toml))
        monkeypatch.setenv("BAZAAR_PORT", "9002")
        assert Settings().port == 9002
        assert Settings(**parse_overrides(["port=9003"])).port == 9003


class TestSettingsValidation:
    def test_errors_name_the_key(self) -> None:
        with pytest.raises(ValidationError) as info:
            Settings(**parse_overrides(["breaker.failure_rate=2"]))
        assert info.value.errors()[0]["loc"] == ("breaker", "failure_rate")

    def test_refuses_an_unknown_database_scheme(self) -> None:
        with pytest.raises(ValidationError, match="database_url"):
            Settings(database_url="mysql://db/x")

    @pytest.mark.parametrize(
        "endpoint", ["collector:4318", "grpc://c:4317", "http://", "http://c x"]
    )
    def test_refuses_an_otlp_endpoint_that_is_not_an_http_url(self, endpoint: str) -> None:
        with pytest.raises(ValidationError, match="otlp_endpoint"):
            Settings(otlp_endpoint=endpoint)
        assert Settings(otlp_endpoint="http://collector:4318").otlp_endpoint

    def test_log_levels_per_logger(self) -> None:
        settings = Settings(**parse_overrides(["log_levels=bazaar.access=WARNING, httpx=debug"]))
        assert settings.log_levels == {"bazaar.access": "warning", "httpx": "debug"}

    @pytest.mark.parametrize("value", ["bazaar.access", "bazaar.access=loud", "bad name=info"])
    def test_refuses_malformed_log_levels(self, value: str) -> None:
        with pytest.raises(ValidationError, match="log_levels"):
            Settings(log_levels=value)

    def test_tracing_sample_ratio_is_a_share(self) -> None:
        with pytest.raises(ValidationError) as info:
            Settings(**parse_overrides(["tracing.sample_ratio=1.5"]))
        assert info.value.errors()[0]["loc"] == ("tracing", "sample_ratio")

    def test_refuses_a_short_jwt_secret_outside_demo_mode(self) -> None:
        with pytest.raises(ValidationError, match="jwt_secret"):
            Settings(jwt_secret="short")
        assert Settings(jwt_secret="short", demo=True).jwt_secret is not None

    def test_refuses_unknown_settings(self) -> None:
        with pytest.raises(ValidationError, match="no_such_setting"):
            Settings(**parse_overrides(["no_such_setting=1"]))


class TestRateLimitSettings:
    def test_policies_default_to_product_md(self) -> None:
        limits = Settings().effective_rate_limits
        assert set(limits) == {"default", "login", "payments", "plan_free", "plan_pro"}
        assert str(limits["plan_free"]) == "sliding_window:100/3600"
        assert str(limits["login"]) == "fixed_window:5/900"

    def test_a_policy_variable_replaces_its_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__DEFAULT", "token_bucket:10/60")
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__PAYMENTS", "off")
        limits = Settings().effective_rate_limits
        assert str(limits["default"]) == "token_bucket:10/60"
        assert limits["payments"] is None
        assert str(limits["login"]) == "fixed_window:5/900"

    @pytest.mark.parametrize(
        "spec",
        ["token_bucket", "token_bucket:10", "bogus:10/60", "token_bucket:0/60",
         "token_bucket:10/0", "token_bucket:ten/60", "token_bucket:10/-5"],
    )  # fmt: skip
    def test_a_bad_policy_string_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, spec: str
    ) -> None:
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__DEFAULT", spec)
        with pytest.raises(ValidationError, match="BAZAAR_RATE_LIMITS__DEFAULT"):
            Settings()

    def test_an_unknown_policy_is_refused_naming_the_known_ones(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__LOGINS", "fixed_window:5/900")
        with pytest.raises(ValidationError, match=r"BAZAAR_RATE_LIMITS__LOGINS.*default"):
            Settings()

    def test_plan_tiers_are_policies_named_after_their_plan(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__PLAN_ENTERPRISE", "token_bucket:100000/3600")
        assert str(Settings().effective_rate_limits["plan_enterprise"]).startswith("token_")
        monkeypatch.setenv("BAZAAR_RATE_LIMITS__PLAN_", "token_bucket:1/1")
        with pytest.raises(ValidationError, match="BAZAAR_RATE_LIMITS__PLAN_"):
            Settings()

    def test_trusted_proxies_must_be_addresses_or_networks(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BAZAAR_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
        assert Settings().trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
        monkeypatch.setenv("BAZAAR_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")
        with pytest.raises(ValidationError, match=r"proxy\.local"):
            Settings()


class TestOverrides:
    def test_nests_with_dots_and_double_underscores(self) -> None:
        assert parse_overrides(["breaker.cooldown_s=5", "database__pool_size=3", "demo=true"]) == {
            "breaker": {"cooldown_s": "5"},
            "database": {"pool_size": "3"},
            "demo": "true",
        }

    @pytest.mark.parametrize("pair", ["novalue", "=x"])
    def test_refuses_pairs_without_key_or_equals(self, pair: str) -> None:
        with pytest.raises(ValueError, match="key=value"):
            parse_overrides([pair])


class TestMasking:
    def test_masks_secrets_and_url_passwords(self) -> None:
        settings = Settings(
            jwt_secret="j" * 40,
            operator_key="op-key-value",
            database_url="postgresql+asyncpg://bazaar:hunter2@db/bazaar",
        )
        shown = str(settings.masked())
        assert "hunter2" not in shown
        assert "op-key-value" not in shown
        assert "j" * 40 not in shown
        assert "postgresql+asyncpg://bazaar:***@db/bazaar" in shown
