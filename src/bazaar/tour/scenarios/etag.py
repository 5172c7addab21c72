"""Tour ``etag``: conditional requests and lost-update prevention on products (§1.5, §7.5)."""

from __future__ import annotations

import asyncio

from bazaar.tour.runner import Scenario, Story
from bazaar.tour.scenarios.commerce import open_shop

__all__ = ["SCENARIO"]


async def run(story: Story) -> None:
    shop = await open_shop(story, stock=1)
    client, path = story.client, f"/api/v1/products/{shop.product_id}"
    first = await client.get(path, headers=shop.merchant)
    etag = first.headers["etag"]
    story.step(f"GET {path} → {first.status_code}, ETag {etag}")
    again = await client.get(path, headers={**shop.merchant, "if-none-match": etag})
    story.step(f"the same GET with If-None-Match: {etag} → {again.status_code}, no body")
    story.check(again.status_code == 304, "an unchanged resource is not sent twice")

    blind = await client.patch(path, json={"name": "Blind write"}, headers=shop.merchant)
    story.step(f"PATCH without If-Match → {blind.status_code}")
    story.check(blind.status_code == 428, "a write must say which version it read")

    renames = await asyncio.gather(
        *(
            client.patch(
                path, json={"name": f"Rename {n}"}, headers={**shop.merchant, "if-match": etag}
            )
            for n in range(2)
        )
    )
    statuses = sorted(r.status_code for r in renames)
    story.step(f"two editors PATCH at once, both with If-Match: {etag} → {statuses}")
    story.check(
        statuses == [200, 412],
        "one write wins; the other gets 412 instead of silently overwriting it",
    )
    winner = next(r for r in renames if r.status_code == 200)
    story.step(f"the winner's new ETag is {winner.headers['etag']}; the loser re-reads and retries")


SCENARIO = Scenario(
    name="etag",
    concept="conditional requests, ETags, lost-update prevention",
    capability="§1.5, §7.5",
    run=run,
)
