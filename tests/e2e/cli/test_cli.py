"""The CLI's non-serving commands, through typer's runner (settings from env and --set)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bazaar.cli import app
from bazaar.infra.db import create_database, messaging_tables
from bazaar.kernel.messaging import DeadLetter, SqlDeadLetterStore
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

    def test_a_bad_rate_limit_policy_exits_2_naming_the_variable(self) -> None:
        result = runner.invoke(
            app, ["config", "show", "--set", "rate_limits.default=token_bucket:lots/60"]
        )
        assert result.exit_code == 2
        assert "BAZAAR_RATE_LIMITS__DEFAULT" in result.output

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


async def add_dead_letter(database_file: Path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{database_file}")
    try:
        await SqlDeadLetterStore(database.sessions, messaging_tables.dead_letters).add(
            DeadLetter(
                id=77,
                consumer="notifications",
                topic="orders",
                partition=0,
                message_id="5",
                type="orders.order_confirmed",
                key="5",
                data=b'{"id": "5", "payload": {"order_id": 5}}',
                headers={},
                reason="exhausted",
                error="SMTP down",
                attempts=5,
                failed_at=1_700_000_000.0,
            )
        )
    finally:
        await database.dispose()


class TestDlqCommands:
    def test_list_show_replay_purge(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "200")  # rich tables wrap at the runner's 80 columns
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        empty = runner.invoke(app, ["dlq", "list"])
        assert empty.exit_code == 0, empty.output
        assert "no dead letters" in empty.output
        missing = runner.invoke(app, ["dlq", "show", "42"])
        assert missing.exit_code == 1
        assert "no dead letter 42" in missing.output
        assert runner.invoke(app, ["dlq", "replay", "42"]).exit_code == 1
        refused = runner.invoke(app, ["dlq", "purge"])
        assert refused.exit_code == 2
        asyncio.run(add_dead_letter(tmp_path / "data" / "bazaar.db"))
        listed = runner.invoke(app, ["dlq", "list"])
        assert listed.exit_code == 0, listed.output
        assert "notifications" in listed.output
        assert "exhausted" in listed.output
        shown = runner.invoke(app, ["dlq", "show", "77"])
        assert shown.exit_code == 0, shown.output
        assert "SMTP down" in shown.output
        assert '"order_id": 5' in shown.output
        replayed = runner.invoke(app, ["dlq", "replay", "77"])
        assert replayed.exit_code == 0, replayed.output
        assert "1 replays" in replayed.output
        purged = runner.invoke(app, ["dlq", "purge", "--all"])
        assert purged.exit_code == 0
        assert "purged 1 dead letter" in purged.output
        assert "no dead letters" in runner.invoke(app, ["dlq", "list"]).output


class TestWorkerCommand:
    @pytest.mark.parametrize("value", ["3..1", "0..2", "1-4", "x"])
    def test_a_bad_autoscale_range_exits_2(self, value: str) -> None:
        result = runner.invoke(app, ["worker", "--autoscale", value])
        assert result.exit_code == 2
        assert "--autoscale" in result.output


class TestHelp:
    @pytest.mark.parametrize(
        "command",
        [[], ["up"], ["api"], ["worker"], ["db"], ["db", "upgrade"], ["config", "show"],
         ["tour"], ["dlq"], ["dlq", "list"], ["dlq", "show"], ["dlq", "replay"], ["dlq", "purge"]],
    )  # fmt: skip
    def test_every_command_has_help(self, command: list[str]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
