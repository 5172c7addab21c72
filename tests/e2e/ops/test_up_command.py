"""``bazaar up`` as a real process: migrates, serves the tour, drains on SIGTERM, exits 0."""

from __future__ import annotations

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

from bazaar.tour import SCENARIOS

pytestmark = pytest.mark.slow

READY_WITHIN_S = 30.0  # generous: CI machines are shared; the 3 s target is a benchmark


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bazaar up exited early with {process.returncode}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=1.0)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail("bazaar up did not become ready")


class TestUpCommand:
    def test_serves_until_sigterm_then_exits_zero(self, tmp_path: Path) -> None:
        port = free_port()
        data_dir = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "bazaar", "up", "--demo", "--port", str(port),
             "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        output = b""

        def drain_output() -> None:
            nonlocal output
            assert process.stdout is not None
            output = process.stdout.read()

        reader = threading.Thread(target=drain_output)
        reader.start()
        try:
            base = f"http://127.0.0.1:{port}"
            ready = wait_ready(base, process)
            assert ready.json()["checks"]["database"]["ok"] is True
            assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
            assert (data_dir / "bazaar.db").exists()
            assert list((data_dir / "keys").glob("jwt-*.pem")), "signing key generated"
            # The tour doubles as an end-to-end test of the running system.
            tour = subprocess.run(
                [sys.executable, "-m", "bazaar", "tour", "--url", base],
                env=env,
                capture_output=True,
                timeout=120,
            )
            assert tour.returncode == 0, tour.stdout.decode() + tour.stderr.decode()
            total = len(SCENARIOS)
            assert f"{total}/{total} scenarios held" in tour.stdout.decode()
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
        assert f"http://127.0.0.1:{port}/api/v1" in text
        assert "stopped cleanly" in text
