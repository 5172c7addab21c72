"""Tour ``versioning``: v1 and v2 side by side, v1 announcing its successor (§1.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bazaar.tour.runner import Scenario, Story
from bazaar.tour.scenarios.commerce import open_shop

__all__ = ["SCENARIO"]


def _date_of(deprecation: str) -> str:
    """``@1796083200`` (RFC 9745) as a calendar date, or the header as it came."""
    if deprecation.startswith("@") and deprecation[1:].isdigit():
        return datetime.fromtimestamp(int(deprecation[1:]), UTC).date().isoformat()
    return deprecation


async def run(story: Story) -> None:
    shop = await open_shop(story, stock=1, price="24.90")
    client = story.client
    v1_path = f"/api/v1/products/{shop.product_id}"
    v2_path = f"/api/v2/products/{shop.product_id}"

    v1 = await client.get(v1_path, headers=shop.merchant)
    deprecation = v1.headers.get("deprecation", "")
    sunset = v1.headers.get("sunset", "")
    link = v1.headers.get("link", "")
    story.step(f"GET {v1_path} → {v1.status_code}, price {v1.json()['price']}")
    story.step(f"   Deprecation: {deprecation} (that is {_date_of(deprecation)})")
    story.step(f"   Sunset: {sunset}")
    story.step(f"   Link: {link}")
    story.check(
        bool(deprecation and sunset) and link == f'<{v2_path}>; rel="successor-version"',
        "the v1 route says it is deprecated, when it goes, and where to go instead",
    )

    v2 = await client.get(v2_path, headers=shop.merchant)
    story.step(f"GET {v2_path} → {v2.status_code}, price {v2.json()['price']}")
    story.check("deprecation" not in v2.headers, "v2 is the current version: no Deprecation")
    old, new = v1.json(), v2.json()
    story.check(old["id"] == new["id"], "both versions name the same product")
    price = new["price"]
    story.check(
        isinstance(price["amount_minor"], int)
        and Decimal(old["price"]["amount"]).scaleb(price["exponent"]) == price["amount_minor"]
        and old["price"]["currency"] == price["currency"],
        f"the same price: {old['price']['amount']} {price['currency']} is "
        f"{price['amount_minor']} minor units (exponent {price['exponent']}), an integer",
    )
    story.check(
        v1.headers["etag"] == v2.headers["etag"],
        f"the same ETag {v2.headers['etag']} in both: a v1 tag works in a v2 If-Match",
    )


SCENARIO = Scenario(
    name="versioning",
    concept="API versioning, deprecation and sunset headers",
    capability="§1.6",
    run=run,
)
