"""``bazaar worker`` as a real process: starts on a migrated data dir, stops on SIGTERM, exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def worker(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    env["BAZAAR_DATA_DIR"] = str(data_dir)
    env["BAZAAR_LOG_JSON"] = "false"
    return subprocess.Popen(
        [sys.executable, "-m", "bazaar", "worker", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class TestWorkerCommand:
    def test_runs_until_sigterm_then_exits_zero(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env["BAZAAR_DATA_DIR"] = str(data_dir)
        subprocess.run(
            [sys.executable, "-m", "bazaar", "db", "upgrade"], env=env, check=True, timeout=60
        )
        process = worker(data_dir, "--autoscale", "1..4")
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "bazaar worker is running" in first, first
            assert "autoscaling 1..4" in first
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, output
        assert "stopped cleanly" in output
        assert (data_dir / "broker.db").exists()
