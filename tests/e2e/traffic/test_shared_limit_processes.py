"""Two ``bazaar api`` processes sharing Redis enforce one limit together (capabilities §3.2)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from bazaar.testing.processes import BazaarProcess

LIMIT = 10


@pytest.fixture
def api_pair(tmp_path: Path, redis_url: str) -> Iterator[tuple[BazaarProcess, BazaarProcess]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        "BAZAAR_REDIS_URL": redis_url,
        "BAZAAR_JWT_SECRET": "two-processes-share-this-secret-of-40-chars",
        "BAZAAR_RATE_LIMITS__DEFAULT": f"fixed_window:{LIMIT}/3600",
        "BAZAAR_LOG_LEVEL": "warning",
        "BAZAAR_DATA_DIR": str(data_dir),
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    # Migrations are applied once per release, before the API processes start.
    subprocess.run(
        [sys.executable, "-m", "bazaar", "db", "upgrade"],
        env=clean | env,
        check=True,
        capture_output=True,
    )
    processes = [BazaarProcess(data_dir, command="api", env=env) for _ in range(2)]
    try:
        for process in processes:
            process.wait_ready()
        yield processes[0], processes[1]
    finally:
        for process in processes:
            process.close()


@pytest.mark.timeout(120)
def test_the_limit_holds_across_processes(
    api_pair: tuple[BazaarProcess, BazaarProcess], redis_url: str
) -> None:
    first, second = api_pair
    # Both processes count 127.0.0.1 under one key; the session's Redis may hold an earlier
    # test's counters for it.
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter("bazaar:rl:*"):
            client.delete(key)
    statuses: list[int] = []
    remaining: list[int] = []
    for n in range(2 * LIMIT):
        target = first if n % 2 == 0 else second
        response = httpx.get(f"{target.base_url}/api/v1/products", params={"tenant_id": "1"})
        statuses.append(response.status_code)
        if response.status_code != 429:
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
    admitted = [s for s in statuses if s != 429]
    assert len(admitted) == LIMIT, statuses
    assert 429 not in statuses[:LIMIT]
    assert set(statuses[LIMIT:]) == {429}
    # One counter: remaining counts down across both processes, not twice from the top.
    assert remaining == list(range(LIMIT - 1, -1, -1))
