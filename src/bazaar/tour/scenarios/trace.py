"""Tour ``trace``: one checkout followed as one trace across every async hop (§10.1).

The tour places an order with a ``traceparent`` of its own, waits for the checkout saga
and the consumers of its events, reads the trace from the server's trace store and prints
it as a waterfall: request, saga steps, PSP calls, outbox writes and consumers, with the
SQL statements under each hop folded into one line.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from rich.tree import Tree

from bazaar.tour.runner import Scenario, Story, TourFailedError
from bazaar.tour.scenarios.commerce import Shop, open_shop

__all__ = ["SCENARIO"]

SETTLE_S = 15.0

Span = dict[str, Any]


def _orphans(spans: list[Span], caller_span_id: str) -> list[Span]:
    ids = {span["span_id"] for span in spans} | {caller_span_id}
    return [span for span in spans if span["parent_id"] not in ids]


def _is_sql(span: Span) -> bool:
    return "db.system.name" in span["attributes"]


async def _settled_trace(story: Story, shop: Shop, trace_id: str, caller_span_id: str) -> Any:
    """The trace once a consumer has handled one of its events and every span's parent
    has ended (spans are kept as they end, so work still running leaves gaps)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        response = await story.client.get(f"/api/v1/admin/traces/{trace_id}", headers=shop.merchant)
        if response.status_code == 200:
            spans: list[Span] = response.json()["spans"]
            consumed = any(span["kind"] == "consumer" for span in spans)
            if consumed and not _orphans(spans, caller_span_id):
                return spans
        elif response.status_code != 404:
            raise TourFailedError(f"GET /api/v1/admin/traces answered {response.status_code}")
        if time.monotonic() > deadline:
            raise TourFailedError(f"trace {trace_id} did not settle within {SETTLE_S:g} s")
        await asyncio.sleep(0.2)


def _waterfall(spans: list[Span], root: Span) -> Tree:
    """The spans under ``root`` as a tree; each hop's SQL statements folded into a line."""
    children: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        if span["parent_id"] is not None:
            children[span["parent_id"]].append(span)
    started = datetime.fromisoformat(root["start"])

    def label(span: Span) -> str:
        offset = (datetime.fromisoformat(span["start"]) - started).total_seconds() * 1000
        error = " [red]error[/]" if span["status"] == "error" else ""
        return (
            f"[bold]{span['name']}[/] [dim]{span['kind']}[/]  "
            f"+{offset:,.1f} ms  [cyan]{span['duration_ms']:,.1f} ms[/]{error}"
        )

    def grow(node: Tree, span: Span) -> None:
        below = children.get(span["span_id"], [])
        statements = [s for s in below if _is_sql(s)]
        if statements:
            total = sum(s["duration_ms"] for s in statements)
            node.add(f"[dim]{len(statements)} SQL statements, {total:,.1f} ms in all[/]")
        for child in below:
            if not _is_sql(child):
                grow(node.add(label(child)), child)

    tree = Tree(label(root))
    grow(tree, root)
    return tree


async def run_trace(story: Story) -> None:
    shop = await open_shop(story, stock=5)
    customer = await shop.customer()
    caller_trace_id, caller_span_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{caller_trace_id}-{caller_span_id}-01"
    placed = await shop.order(customer, headers={"traceparent": traceparent})
    answered = placed.headers.get("traceparent", "")
    story.step(f"POST /orders with traceparent {traceparent} → {placed.status_code}")
    story.step(f"   the answer names the server span: traceparent {answered}")
    story.check(
        placed.status_code == 202 and answered.split("-")[1:2] == [caller_trace_id],
        "the server continued the caller's trace and says which span it served in",
    )
    order = await shop.settle(customer, placed.json()["id"])
    story.step(f"the order is {order['status']}; waiting for its events' consumers …")
    spans = await _settled_trace(story, shop, caller_trace_id, caller_span_id)
    (root,) = [span for span in spans if span["parent_id"] == caller_span_id]
    story.step(f"GET /api/v1/admin/traces/{caller_trace_id}: {len(spans)} spans")
    story.console.print(_waterfall(spans, root))
    kinds = {span["kind"] for span in spans}
    story.check(
        {"server", "client", "producer", "consumer"} <= kinds
        and any(span["name"].startswith("saga checkout") for span in spans)
        and any(span["name"].startswith("psp ") for span in spans),
        "one trace holds the request, its saga steps, the PSP calls, the outbox writes and "
        "the consumers of its events — across the async hops",
    )
    story.check(
        not _orphans(spans, caller_span_id), "every span's parent is in the trace: no orphans"
    )
    hops = [span for span in spans if span["kind"] in ("client", "consumer")]
    slowest = max(hops, key=lambda span: span["duration_ms"])
    story.step(
        f"the slowest hop: {slowest['name']} ({slowest['kind']}), {slowest['duration_ms']:,.1f} ms"
    )


SCENARIO = Scenario(
    name="trace",
    concept="distributed tracing across async hops",
    capability="§10.1",
    run=run_trace,
)
