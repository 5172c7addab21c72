"""Tour ``oversell``: 200 buyers, 10 units — exactly 10 orders complete (§5.2, R2)."""

from __future__ import annotations

import asyncio

from bazaar.tour.runner import Scenario, Story
from bazaar.tour.scenarios.commerce import open_shop

__all__ = ["SCENARIO"]

BUYERS = 200
UNITS = 10


async def run(story: Story) -> None:
    shop = await open_shop(story, stock=UNITS)
    # Registering 200 customers costs two password hashes each; 5 customers placing 40
    # orders each race for the stock just as hard.
    customers = [await shop.customer() for _ in range(5)]
    story.step(f"{BUYERS} orders for 1 unit each, all at once, against {UNITS} units in stock")
    placed = await asyncio.gather(
        *(shop.order(customers[n % len(customers)]) for n in range(BUYERS))
    )
    accepted = [
        (customers[n % len(customers)], r.json()["id"])
        for n, r in enumerate(placed)
        if r.status_code == 202
    ]
    story.step(f"{len(accepted)} accepted (202); waiting for every saga to end")
    # One order at a time: 200 pollers at once would be a load test of their own.
    orders = [
        await shop.settle(customer, order_id, timeout_s=60) for customer, order_id in accepted
    ]
    completed = sum(order["status"] == "completed" for order in orders)
    out_of_stock = sum(order["failure_reason"] == "out_of_stock" for order in orders)
    story.step(f"{completed} completed, {out_of_stock} cancelled as out_of_stock")
    stock = await shop.stock()
    story.step(f"stock: available {stock['available']}, reserved {stock['reserved']}")
    story.check(
        completed == UNITS and out_of_stock == len(accepted) - UNITS,
        f"exactly {UNITS} orders completed; every other one was refused for stock",
    )
    story.check(
        stock["available"] == 0 and stock["reserved"] == 0,
        "available never went below zero: a conditional update reserves or refuses",
    )


SCENARIO = Scenario(
    name="oversell",
    concept="concurrency control: no oversell under a rush",
    capability="§5.2, §7.5",
    run=run,
)
