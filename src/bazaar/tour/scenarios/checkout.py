"""Tours ``checkout`` and ``compensation``: the orchestrated saga, forward and backward (§5.3)."""

from __future__ import annotations

from bazaar.tour.runner import Scenario, Story
from bazaar.tour.scenarios.commerce import open_shop, timeline

__all__ = ["CHECKOUT", "COMPENSATION"]


async def run_checkout(story: Story) -> None:
    shop = await open_shop(story, stock=5)
    customer = await shop.customer()
    placed = await shop.order(customer, quantity=2)
    story.step(
        f"POST /orders (2 × {shop.product['name']}, card tok_ok) → {placed.status_code}, "
        f"Location {placed.headers.get('location')}"
    )
    story.check(
        placed.status_code == 202 and placed.json()["status"] == "pending",
        "the order is accepted at once (202); the checkout saga runs in the background",
    )
    order = await shop.settle(customer, placed.json()["id"])
    story.step(f"the order is {order['status']}; its saga is {order['saga']['state']}:")
    timeline(story, order)
    story.check(
        order["status"] == "completed"
        and [step["status"] for step in order["saga"]["steps"]] == ["succeeded"] * 5,
        "reserve → authorize → capture → ship → confirm all succeeded",
    )
    stock = await shop.stock()
    story.step(
        f"stock after the sale: available {stock['available']}, reserved {stock['reserved']}"
    )
    story.check(
        stock["available"] == 3 and stock["reserved"] == 0,
        "two units left the shelf for good, none are still held",
    )


async def run_compensation(story: Story) -> None:
    shop = await open_shop(story, stock=3)
    customer = await shop.customer()
    placed = await shop.order(customer, card="tok_declined", quantity=2)
    story.step(f"POST /orders (2 units, card tok_declined) → {placed.status_code}")
    order = await shop.settle(customer, placed.json()["id"])
    story.step(
        f"the order is {order['status']} ({order['failure_reason']}); "
        f"its saga is {order['saga']['state']}:"
    )
    timeline(story, order)
    story.check(
        order["status"] == "cancelled"
        and order["failure_reason"] == "payment_declined"
        and order["saga"]["state"] == "compensated",
        "a declined card cancels the order and the saga compensates",
    )
    stock = await shop.stock()
    story.step(
        f"stock after the compensation: available {stock['available']}, "
        f"reserved {stock['reserved']}"
    )
    story.check(
        stock["available"] == 3 and stock["reserved"] == 0,
        "the reservation was released: every unit is back on the shelf",
    )


CHECKOUT = Scenario(
    name="checkout",
    concept="saga: orchestration of a checkout",
    capability="§5.3",
    run=run_checkout,
)
COMPENSATION = Scenario(
    name="compensation",
    concept="saga: compensation when a step fails",
    capability="§5.3",
    run=run_compensation,
)
