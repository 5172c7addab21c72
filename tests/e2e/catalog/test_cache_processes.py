"""Two ``bazaar api`` processes sharing Redis share one product cache (capabilities §8.3–8.4).

Real processes: each has its own L1, the L2, the load lock and the invalidation bus are in
Redis. A cold product read by both at once is loaded at most once per process (once in
all, while the lock holds), and a change made through one is served by the other within
a second.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from catalog_http_support import CatalogApi

from bazaar.testing.identity import bearer
from bazaar.testing.processes import BazaarProcess

READERS = 200


@pytest.fixture
def api_pair(tmp_path: Path, redis_url: str) -> Iterator[tuple[BazaarProcess, BazaarProcess]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        "BAZAAR_REDIS_URL": redis_url,
        "BAZAAR_JWT_SECRET": "two-processes-share-this-secret-of-40-chars",
        "BAZAAR_DEMO": "true",
        "BAZAAR_LOG_LEVEL": "warning",
        "BAZAAR_DATA_DIR": str(data_dir),
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
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


def _loads(process: BazaarProcess) -> float:
    prefix = 'bazaar_cache_loads_total{cache="products"} '
    for line in httpx.get(f"{process.base_url}/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


@pytest.mark.timeout(180)
async def test_two_processes_share_one_cache(
    api_pair: tuple[BazaarProcess, BazaarProcess],
) -> None:
    first, second = api_pair
    async with (
        httpx.AsyncClient(base_url=first.base_url, timeout=30) as one,
        httpx.AsyncClient(base_url=second.base_url, timeout=30) as two,
    ):
        api = CatalogApi(one)
        shop = await api.shop()
        created = await api.created(shop.merchant_token, name="Shared Lamp")
        product_id = created.json()["id"]
        path = f"/api/v1/products/{product_id}"
        customer = bearer(shop.customer_token)

        before = (_loads(first), _loads(second))
        answers = await asyncio.gather(
            *((one if n % 2 else two).get(path, headers=customer) for n in range(READERS))
        )
        assert {r.status_code for r in answers} == {200}
        grown = (_loads(first) - before[0], _loads(second) - before[1])
        assert grown[0] <= 1
        assert grown[1] <= 1
        assert sum(grown) >= 1

        assert (await two.get(path, headers=customer)).headers["x-cache"] == "HIT"
        patched = await api.patch(
            shop.merchant_token, product_id, {"name": "Renamed Lamp"}, created.headers["etag"]
        )
        assert patched.status_code == 200
        changed_at = time.monotonic()
        while True:
            seen = (await two.get(path, headers=customer)).json()["name"]
            waited = time.monotonic() - changed_at
            if seen == "Renamed Lamp":
                break
            assert waited < 1.0, f"the other process still serves {seen!r} after {waited:.2f} s"
            await asyncio.sleep(0.02)
