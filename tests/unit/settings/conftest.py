"""Settings tests read the environment: each starts from one without BAZAAR_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BAZAAR_"):
            monkeypatch.delenv(name)
    # No bazaar.toml from the working directory leaks into these tests.
    monkeypatch.setenv("BAZAAR_CONFIG_FILE", str(tmp_path / "absent.toml"))
