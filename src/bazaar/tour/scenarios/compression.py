"""Tour ``compression``: one page of products as br, gzip and identity; small bodies left (§1.7)."""

from __future__ import annotations

import asyncio

import httpx

from bazaar.tour.runner import Scenario, Story, TourFailedError
from bazaar.tour.scenarios.commerce import open_shop

__all__ = ["SCENARIO"]

PRODUCTS = 40
DESCRIPTION = "Enamelled cast iron, oven-safe to 260 °C; hand wash, dry at once, oil lightly."


def _varies_on_encoding(response: httpx.Response) -> bool:
    tokens = [token.strip().lower() for token in response.headers.get("vary", "").split(",")]
    return "accept-encoding" in tokens


async def run(story: Story) -> None:
    shop = await open_shop(story, stock=1)
    client = story.client

    async def add(n: int) -> None:
        response = await client.post(
            "/api/v2/products",
            json={
                "name": f"Dutch oven no. {n}",
                "description": DESCRIPTION,
                "price": {"amount_minor": 8900 + n, "currency": "EUR"},
                "category": "kitchen",
                "attributes": {"litres": 4 + n % 3, "colour": ["red", "blue", "sage"][n % 3]},
            },
            headers=shop.merchant,
        )
        if response.status_code != 201:
            raise TourFailedError(f"could not create a product ({response.status_code})")

    await asyncio.gather(*(add(n) for n in range(1, PRODUCTS)))
    path = f"/api/v2/products?limit={PRODUCTS}"
    story.step(f"{PRODUCTS} products in a fresh shop; GET {path} three times:")

    answers: dict[str, httpx.Response] = {}
    for coding in ("br", "gzip", "identity"):
        response = await client.get(path, headers={**shop.merchant, "accept-encoding": coding})
        answers[coding] = response
        wire, body = response.num_bytes_downloaded, len(response.content)
        encoding = response.headers.get("content-encoding", "none")
        story.step(
            f"   Accept-Encoding: {coding:<8} → Content-Encoding: {encoding:<4} "
            f"{wire:>6} bytes on the wire for {body} bytes of JSON ({wire / body:.1%})"
        )
    br, gzip, identity = answers["br"], answers["gzip"], answers["identity"]
    story.check(
        br.headers.get("content-encoding") == "br"
        and gzip.headers.get("content-encoding") == "gzip"
        and "content-encoding" not in identity.headers,
        "each client gets the coding it asked for (br, gzip, or none)",
    )
    story.check(
        br.json() == gzip.json() == identity.json(),
        "all three decode to the same JSON",
    )
    story.check(
        br.num_bytes_downloaded < identity.num_bytes_downloaded // 4,
        f"br sends {identity.num_bytes_downloaded / br.num_bytes_downloaded:.0f}x fewer bytes",
    )
    story.check(
        all(_varies_on_encoding(r) for r in answers.values()),
        "every answer says Vary: Accept-Encoding, so no cache mixes them up",
    )

    small_path = f"/api/v2/products/{shop.product_id}?fields=id,name"
    small = await client.get(small_path, headers={**shop.merchant, "accept-encoding": "br, gzip"})
    story.step(
        f"GET {small_path} with Accept-Encoding: br, gzip → {len(small.content)} bytes, "
        f"Content-Encoding: {small.headers.get('content-encoding', 'none')}"
    )
    story.check(
        "content-encoding" not in small.headers and _varies_on_encoding(small),
        "a body under 1 KiB is sent as it is (compressing it would cost more than it saves)",
    )


SCENARIO = Scenario(
    name="compression",
    concept="response compression: br and gzip negotiation, Vary",
    capability="§1.7",
    run=run,
)
