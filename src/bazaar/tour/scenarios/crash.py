"""Tour ``crash``: ``kill -9`` in the middle of a checkout; the restarted system finishes it.

This scenario runs a system of its own — ``bazaar up --demo`` in a temporary data dir — since
it has to kill it; the system the tour was pointed at is left alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path

import httpx

from bazaar.testing.processes import BazaarProcess
from bazaar.tour.runner import Scenario, Story, TourFailedError
from bazaar.tour.scenarios.commerce import open_shop, timeline

__all__ = ["SCENARIO"]

# Short leases so the restarted process takes the saga over within seconds (a saga's lease
# must outlast its step timeout).
_SETTINGS = ("--set", "orders.step_timeout_s=4", "--set", "orders.saga_lease_s=5")


async def run(story: Story) -> None:
    with tempfile.TemporaryDirectory(prefix="bazaar-tour-crash-") as tmp:
        data_dir = Path(tmp) / "data"
        first = await _start(data_dir)
        try:
            async with httpx.AsyncClient(base_url=first.base_url, timeout=30) as client:
                local = dataclasses.replace(story, client=client)
                local.step(
                    f"started a system of its own at {first.base_url} (pid {first.process.pid})"
                )
                shop = await open_shop(local, stock=3)
                customer = await shop.customer()
                slow = await client.put("/api/v1/admin/faults/psp", json={"latency_ms": 3000})
                if slow.status_code != 200:
                    raise TourFailedError(f"could not slow the PSP down ({slow.status_code})")
                placed = await shop.order(customer)
                order_id = placed.json()["id"]
                local.step(f"POST /orders → {placed.status_code}; the PSP now answers in 3 s")
                await _until_step_runs(local, client, customer["token"], order_id)
                first.process.kill()
                first.process.wait()
                local.step("kill -9 while authorize_payment waits for the PSP")
        finally:
            first.close()

        second = await _start(data_dir)
        try:
            async with httpx.AsyncClient(base_url=second.base_url, timeout=30) as client:
                local = dataclasses.replace(local, client=client)
                shop.story = local  # the same shop, reached through the restarted system
                local.step(f"restarted on the same data dir (pid {second.process.pid})")
                began = time.monotonic()
                order = await shop.settle(customer, order_id, timeout_s=60)
                local.step(
                    f"{time.monotonic() - began:.1f} s later the order is {order['status']}; "
                    "the saga resumed where its log stood:"
                )
                timeline(local, order)
                authorize = next(
                    s for s in order["saga"]["steps"] if s["name"] == "authorize_payment"
                )
                local.check(
                    order["status"] == "completed" and authorize["attempts"] >= 2,
                    "the interrupted step ran again with the same PSP idempotency key; the order "
                    "completed",
                )
                stock = await shop.stock()
                local.step(f"stock: available {stock['available']}, reserved {stock['reserved']}")
                local.check(
                    stock["available"] == 2 and stock["reserved"] == 0,
                    "stock is conserved across the crash: one unit sold, none left held",
                )
            second.terminate()
        finally:
            second.close()


async def _start(data_dir: Path) -> BazaarProcess:
    process = BazaarProcess(data_dir, *_SETTINGS)
    try:
        await asyncio.to_thread(process.wait_ready)
    except RuntimeError as exc:
        process.close()
        raise TourFailedError(f"could not start a system to crash: {exc}") from exc
    return process


async def _until_step_runs(
    story: Story, client: httpx.AsyncClient, token: str, order_id: str
) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        order = (
            await client.get(
                f"/api/v1/orders/{order_id}", headers={"authorization": f"Bearer {token}"}
            )
        ).json()
        steps = {s["name"]: s["status"] for s in order["saga"]["steps"]}
        if steps.get("authorize_payment") == "running":
            story.step("the log shows authorize_payment running (written ahead of the call)")
            return
        await asyncio.sleep(0.05)
    raise TourFailedError("the saga never reached the PSP step")


SCENARIO = Scenario(
    name="crash",
    concept="crash recovery of long-running work",
    capability="§5.3, §6.1",
    run=run,
)
