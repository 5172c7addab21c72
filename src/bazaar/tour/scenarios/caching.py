"""Tours ``cache-aside``, ``stampede`` and ``penetration``: the catalog's read cache (§8.1–8.5).

Each reads the cache's own counters from ``/metrics`` before and after, so what it shows
is what the server did, not what the tour assumes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from bazaar.kernel.ids import first_id_at
from bazaar.tour.runner import Scenario, Story, TourFailedError, bearer
from bazaar.tour.scenarios.commerce import open_shop

__all__ = ["CACHE_ASIDE", "PENETRATION", "STAMPEDE"]

READERS = 1000
UNKNOWN_IDS = 200


async def _metric(story: Story, name: str, labels: str) -> float:
    """One sample of ``/metrics``, e.g. ``bazaar_cache_loads_total`` with ``cache="products"``."""
    text = (await story.client.get("/metrics")).text
    prefix = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def _loads(story: Story) -> float:
    return await _metric(story, "bazaar_cache_loads_total", 'cache="products"')


async def _cache_aside(story: Story) -> None:
    shop = await open_shop(story, stock=5)
    customer = bearer((await shop.customer())["token"])
    path = f"/api/v1/products/{shop.product_id}"

    async def read(what: str) -> str:
        response = await story.client.get(path, headers=customer)
        if response.status_code != 200:
            raise TourFailedError(f"GET {path} answered {response.status_code}")
        state = str(response.headers.get("x-cache", "none"))
        story.step(
            f"   {what:<34} GET → X-Cache: {state:<5} name {response.json()['name']!r}, "
            f"ETag {response.headers['etag']}"
        )
        return state

    loads = await _loads(story)
    story.step(f"A new product; a customer reads {path}:")
    first, second = await read("first read"), await read("second read")
    story.check(
        (first, second) == ("MISS", "HIT"),
        "the first read loads it from the database (MISS), the next is served from the cache",
    )
    story.check(await _loads(story) - loads == 1, "two reads, one database load")
    current = await story.client.get(path, headers=shop.merchant)
    patched = await story.client.patch(
        path,
        json={"name": "Tour teapot, glazed"},
        headers={**shop.merchant, "if-match": current.headers["etag"]},
    )
    if patched.status_code != 200:
        raise TourFailedError(f"PATCH {path} answered {patched.status_code}")
    story.step(f"   the merchant renames it: PATCH → {patched.status_code}, event to the outbox")
    after = await read("read after the change")
    story.check(
        after == "MISS",
        "the writer invalidated the cached copy right after its commit: the next read "
        "loads the new version",
    )
    # The product's event, consumed from the outbox, invalidates once more (the reliable
    # path, for a writer that died before its own invalidation): give it a moment.
    await asyncio.sleep(1.0)
    states = [await read("a second later") for _ in range(2)]
    story.check(
        states[-1] == "HIT",
        "after the event's own invalidation the new version is cached again",
    )


async def _stampede(story: Story) -> None:
    shop = await open_shop(story, stock=5)
    customer = bearer((await shop.customer())["token"])
    path = f"/api/v1/products/{shop.product_id}"
    loads = await _loads(story)
    story.step(f"{READERS} customers read the same cold product at once (GET {path}):")
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(story.client.get(path, headers=customer) for _ in range(READERS))
    )
    elapsed = time.perf_counter() - started
    statuses = Counter(r.status_code for r in answers)
    states = Counter(r.headers.get("x-cache", "none") for r in answers if r.status_code == 200)
    story.step(
        f"   {READERS} answers in {elapsed:.2f} s: statuses {dict(statuses)}, "
        f"X-Cache {dict(states)}"
    )
    grown = await _loads(story) - loads
    story.step(f'   bazaar_cache_loads_total{{cache="products"}} grew by {grown:.0f}')
    story.check(statuses[200] == READERS, "every reader got the product")
    story.check(
        grown == 1,
        "the loader ran once: the readers that missed waited for that one load (single "
        "flight) instead of each querying the database",
    )


async def _penetration(story: Story) -> None:
    shop = await open_shop(story, stock=5)
    customer = bearer((await shop.customer())["token"])
    filtered = 'cache="products",result="filtered"'
    # The filter is consulted once its first refresh (at start) has run: wait for it.
    hour_ago = first_id_at(int((time.time() - 3600) * 1000))
    deadline = time.monotonic() + 10
    while True:
        before = await _metric(story, "bazaar_cache_requests_total", filtered)
        probe = await story.client.get(f"/api/v1/products/{hour_ago}", headers=customer)
        if await _metric(story, "bazaar_cache_requests_total", filtered) > before:
            break
        if probe.status_code != 404 or time.monotonic() > deadline:
            raise TourFailedError("the Bloom filter of product ids is not in use")
        await asyncio.sleep(0.2)
    rng = random.Random()
    # Made between an hour and half an hour ago: well before the filter's watermark (its
    # refresh time less a margin), so the filter, not the database, decides them.
    unknown = [hour_ago + rng.randrange(1_800_000 << 22) for _ in range(UNKNOWN_IDS)]
    loads = await _loads(story)
    before = await _metric(story, "bazaar_cache_requests_total", filtered)
    story.step(f"{UNKNOWN_IDS} reads of random ids no product has (made an hour ago):")
    answers = await asyncio.gather(
        *(story.client.get(f"/api/v1/products/{pid}", headers=customer) for pid in unknown)
    )
    statuses = Counter(r.status_code for r in answers)
    answered = await _metric(story, "bazaar_cache_requests_total", filtered) - before
    story.step(
        f"   statuses {dict(statuses)}; answered by the Bloom filter: {answered:.0f}; "
        f"database loads: {await _loads(story) - loads:.0f}"
    )
    story.check(statuses == Counter({404: UNKNOWN_IDS}), "every unknown id answers 404")
    story.check(
        answered == UNKNOWN_IDS and await _loads(story) == loads,
        "none reached the database: the filter knows every id a product has",
    )
    known = await story.client.get(f"/api/v1/products/{shop.product_id}", headers=customer)
    story.check(known.status_code == 200, "a real product still reads (no false negatives)")


CACHE_ASIDE = Scenario(
    name="cache-aside",
    concept="cache-aside reads, invalidation on change",
    capability="§8.1–8.2, §8.4",
    run=_cache_aside,
)
STAMPEDE = Scenario(
    name="stampede",
    concept="cache stampede: single flight",
    capability="§8.3",
    run=_stampede,
)
PENETRATION = Scenario(
    name="penetration",
    concept="cache penetration: Bloom filter of ids, negative caching",
    capability="§8.5",
    run=_penetration,
)
