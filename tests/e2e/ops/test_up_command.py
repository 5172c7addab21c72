"""``bazaar up`` as a real process: migrates, serves the tour, drains on SIGTERM, exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bazaar.testing.processes import BazaarProcess
from bazaar.tour import SCENARIOS

# The whole tour runs against the real system: ~2 minutes on two busy cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


class TestUpCommand:
    def test_serves_until_sigterm_then_exits_zero(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "data"
        bazaar = BazaarProcess(data_dir, capture=True)
        output = b""

        def drain_output() -> None:
            nonlocal output
            assert bazaar.process.stdout is not None
            output = bazaar.process.stdout.read()

        reader = threading.Thread(target=drain_output)
        reader.start()
        try:
            ready = bazaar.wait_ready()
            assert ready.json()["checks"]["database"]["ok"] is True
            assert httpx.get(f"{bazaar.base_url}/healthz").json() == {"status": "ok"}
            assert (data_dir / "bazaar.db").exists()
            assert list((data_dir / "keys").glob("jwt-*.pem")), "signing key generated"
            # The tour doubles as an end-to-end test of the running system.
            env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
            tour = subprocess.run(
                [sys.executable, "-m", "bazaar", "tour", "--url", bazaar.base_url],
                env=env,
                capture_output=True,
                timeout=480,
            )
            assert tour.returncode == 0, tour.stdout.decode() + tour.stderr.decode()
            total = len(SCENARIOS)
            assert f"{total}/{total} scenarios held" in tour.stdout.decode()
            status = bazaar.terminate()
        finally:
            if bazaar.process.poll() is None:
                bazaar.process.kill()
            reader.join(timeout=10)
            bazaar.close()
        assert status == 0
        text = output.decode()
        assert f"{bazaar.base_url}/api/v1" in text
        assert "stopped cleanly" in text
