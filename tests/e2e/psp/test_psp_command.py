"""``bazaar psp`` as a real process: serves the simulator, stops on SIGTERM with status 0."""

from __future__ import annotations

import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from bazaar.cli.psp_cmd import psp
from bazaar.psp.testing import TEST_API_KEY, TEST_WEBHOOK_SECRET

READY_WITHIN_S = 30.0


# Runs the command through typer directly, so the test does not depend on where the root
# `bazaar` command registers it.
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command()(psp)
    return app


class TestPspCommandOptions:
    def test_help_documents_the_options_and_the_test_credentials(self) -> None:
        result = CliRunner().invoke(command_app(), ["--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        for option in ("--port", "--data-dir", "--api-key", "--webhook-url", "--webhook-secret"):
            assert option in result.output
        assert "not a production secret" in result.output

    def test_its_default_credentials_are_the_test_helpers(self) -> None:
        defaults = inspect.signature(psp).parameters
        assert defaults["api_key"].default == TEST_API_KEY
        assert defaults["webhook_secret"].default == TEST_WEBHOOK_SECRET

    def test_an_invalid_webhook_url_exits_2_naming_the_option(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(
            command_app(), ["--data-dir", str(tmp_path), "--webhook-url", "ftp://x"]
        )
        assert result.exit_code == 2
        assert "--webhook-url" in result.output


@pytest.mark.slow
class TestPspCommandProcess:
    def test_serves_until_sigterm_then_exits_zero(self, tmp_path: Path) -> None:
        port = free_port()
        data_dir = tmp_path / "psp"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bazaar",
                "psp",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output = b""

        def drain_output() -> None:
            nonlocal output
            assert process.stdout is not None
            output = process.stdout.read()

        reader = threading.Thread(target=drain_output)
        reader.start()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_WITHIN_S
            while True:
                assert process.poll() is None, "bazaar psp exited early"
                assert time.monotonic() < deadline, "bazaar psp did not become ready"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            created = httpx.post(
                f"{base}/v1/authorizations",
                json={"amount": "19.99", "currency": "EUR", "card_token": "tok_ok"},
                headers={"Authorization": "Bearer psp_test_key", "Idempotency-Key": "proc-1"},
            )
            assert created.status_code == 201, created.text
            assert created.json()["status"] == "authorized"
            assert (data_dir / "psp.db").exists()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=10)
            assert process.stdout is not None
            process.stdout.close()
        text = output.decode()
        assert "PSP simulator is up" in text
        assert "stopped cleanly" in text
