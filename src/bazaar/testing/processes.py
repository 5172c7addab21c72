"""Run ``bazaar`` commands as real processes in tests (the two-commands promise, end to end)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["BazaarProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BazaarProcess:
    """``python -m bazaar up --demo`` (or ``api``) on free ports in a data dir; killed if a
    test fails.

    The environment is cleaned of ``BAZAAR_*`` variables so the developer's settings never
    leak into a test.
    """

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        capture: bool = False,
        command: str = "up",
        env: dict[str, str] | None = None,
    ) -> None:
        """Start the process.

        Args:
            data_dir: the data dir (``--data-dir`` for ``up``, ``BAZAAR_DATA_DIR`` otherwise).
            *extra: more command-line arguments.
            capture: keep stdout and stderr in a pipe (read ``process.stdout``).
            command: ``up`` (with ``--demo`` and a free PSP port) or ``api``.
            env: ``BAZAAR_*`` settings for the process, on top of a clean environment.
        """
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        clean.update(env or {})
        arguments = [sys.executable, "-m", "bazaar", command, "--port", str(self.port)]
        if command == "up":
            arguments += [
                "--demo", "--data-dir", str(data_dir), "--set", f"psp_port={free_port()}",
            ]  # fmt: skip
        else:
            clean["BAZAAR_DATA_DIR"] = str(data_dir)
        output = subprocess.PIPE if capture else subprocess.DEVNULL
        # The command is this interpreter running bazaar itself, never outside input.
        self.process = subprocess.Popen(  # noqa: S603
            [*arguments, *extra], env=clean, stdout=output, stderr=subprocess.STDOUT
        )

    def wait_ready(self, within_s: float = 30.0) -> httpx.Response:
        """Poll ``/readyz`` until it answers 200.

        Raises:
            RuntimeError: the process exited or did not become ready in time.
        """
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bazaar up exited early with {self.process.returncode}")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=1.0)
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"bazaar up was not ready within {within_s} s")

    def terminate(self, within_s: float = 30.0) -> int:
        """SIGTERM, then the exit status; a process that does not stop in time is killed.

        Raises:
            subprocess.TimeoutExpired: it ignored SIGTERM for ``within_s`` (it is killed).
        """
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
