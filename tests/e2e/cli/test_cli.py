"""The CLI's non-serving commands, through typer's runner (settings from env and --set)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bazaar.cli import app
from bazaar.tour import SCENARIOS

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BAZAAR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BAZAAR_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("BAZAAR_DATA_DIR", str(tmp_path / "data"))


class TestConfigShow:
    def test_prints_effective_settings_with_secrets_masked(self) -> None:
        result = runner.invoke(
            app,
            ["config", "show", "--json", "--set", "operator_key=op-secret-value",
             "--set", "breaker.cooldown_s=7",
             "--set", "database_url=postgresql+asyncpg://u:pw-secret@db/x"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        data = orjson.loads(result.stdout)
        assert data["breaker"]["cooldown_s"] == 7
        assert data["operator_key"] == "***"
        assert "op-secret-value" not in result.output
        assert "pw-secret" not in result.output

    def test_invalid_settings_exit_2_naming_the_key(self) -> None:
        result = runner.invoke(app, ["config", "show", "--set", "breaker.failure_rate=3"])
        assert result.exit_code == 2
        assert "breaker.failure_rate" in result.output

    def test_a_malformed_override_exits_2(self) -> None:
        result = runner.invoke(app, ["config", "show", "--set", "no-equals-sign"])
        assert result.exit_code == 2
        assert "key=value" in result.output


class TestDbCommands:
    def test_upgrade_migrates_and_current_reports_head(self, tmp_path: Path) -> None:
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert (tmp_path / "data" / "bazaar.db").exists()
        current = runner.invoke(app, ["db", "current"])
        assert current.exit_code == 0, current.output
        assert "up to date" in current.output


class TestTourCommand:
    def test_lists_every_scenario(self) -> None:
        result = runner.invoke(app, ["tour", "--list"])
        assert result.exit_code == 0
        for name in SCENARIOS:
            assert name in result.output

    def test_refuses_an_unknown_scenario(self) -> None:
        result = runner.invoke(app, ["tour", "no-such-scenario"])
        assert result.exit_code == 2
        assert "no-such-scenario" in result.output

    def test_fails_when_the_system_is_not_running(self) -> None:
        result = runner.invoke(app, ["tour", "http-errors", "--url", "http://127.0.0.1:9"])
        assert result.exit_code == 1
        assert "cannot reach" in " ".join(result.output.split())


class TestHelp:
    @pytest.mark.parametrize(
        "command", [[], ["up"], ["api"], ["db"], ["db", "upgrade"], ["config", "show"], ["tour"]]
    )
    def test_every_command_has_help(self, command: list[str]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
