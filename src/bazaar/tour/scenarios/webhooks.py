"""Tour ``webhooks``: signed outgoing webhooks, retried, behind the SSRF guard (§6.7, §13.3).

The tour process runs a tiny HTTP receiver on 127.0.0.1 (a free port, stdlib ``http.server``
in a thread) that checks every ``Bazaar-Signature`` the way a merchant's server would
(``verify``: HMAC-SHA256 over ``t.body``, ±5 min) and answers 500 to the first attempt of
a refund event. The system must let user-given URLs reach loopback: ``bazaar up --demo``
does (``ssrf_allow`` = ``127.0.0.1/32,::1/128`` unless set), a production system does not.

The story: the metadata address is refused (422); the receiver is registered (201, the
secret shown once); a payment arrives as one signed delivery; a refund's delivery fails
once and arrives on the first retry, about 5 s later (the first step of the retry
schedule); the deliveries list shows both, the refund's with attempts 500 then 200.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from bazaar.contexts.webhooks import SIGNATURE_HEADER, InvalidSignatureError, verify
from bazaar.tour.runner import Scenario, Story, TourFailedError, bearer

__all__ = ["SCENARIO", "WebhookReceiver"]

# The first retry comes 5 s (±10 %) after a failure; the rest is relay, consumer and polls.
DELIVERY_WITHIN_S = 5.0
RETRY_WITHIN_S = 12.0
RECORDED_WITHIN_S = 5.0  # the dispatcher commits an outcome soon after the receiver answers
EVENTS = ["payments.payment_succeeded", "payments.refund_succeeded"]


@dataclass(frozen=True, slots=True)
class Received:
    """One POST the receiver got and what it made of it."""

    event_id: str
    event_type: str
    delivery_id: str
    attempt: str
    signature_ok: bool
    answered: int
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """A merchant's webhook endpoint in miniature: verifies, records, answers.

    ``fail_first`` event types get a 500 on the first attempt of each event (then 200).
    Requests with a bad or missing signature get 400, as a receiver should answer them.
    Requests arrive on the server's threads; ``wait_for`` wakes on each one.
    """

    fail_first: frozenset[str] = frozenset()
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: asyncio.AbstractEventLoop | None = None

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        """Record one POST; the status to answer it with (called on a server thread)."""
        signature_ok = self._verified(headers, body)
        event_id = headers.get("bazaar-event-id", "")
        event_type = headers.get("bazaar-event-type", "")
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = {}
        with self._lock:
            if not signature_ok:
                status = 400
            elif event_type in self.fail_first and event_id not in self._seen:
                status = 500
            else:
                status = 200
            self._seen.add(event_id)
            self.received.append(
                Received(
                    event_id=event_id,
                    event_type=event_type,
                    delivery_id=headers.get("bazaar-delivery-id", ""),
                    attempt=headers.get("bazaar-delivery-attempt", ""),
                    signature_ok=signature_ok,
                    answered=status,
                    body=decoded if isinstance(decoded, dict) else {},
                )
            )
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._changed.set)
        return status

    def _verified(self, headers: dict[str, str], body: bytes) -> bool:
        # What a merchant's server does first: refuse anything bazaar did not sign, recently.
        if self.secret is None:
            return False
        try:
            verify(self.secret, headers.get(SIGNATURE_HEADER.lower()), body, now=time.time())
        except InvalidSignatureError:
            return False
        return True

    def of(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event_type == event_type]

    async def wait_for(self, condition: Callable[[], bool], within_s: float) -> float:
        """Wait until ``condition`` holds (checked on every request); the seconds waited."""
        started = time.perf_counter()
        deadline = started + within_s
        while not condition():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._changed.clear()
            if condition():
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                break
        return time.perf_counter() - started

    @contextmanager
    def serving(self) -> Iterator[WebhookReceiver]:
        """Listen on 127.0.0.1 (a free port) in a thread until the block ends.

        Enter it inside the event loop that calls ``wait_for``.
        """
        receiver = self
        self._loop = asyncio.get_running_loop()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver.handle(headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the story prints what matters."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, name="tour-webhooks", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._loop = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bazaar/webhooks"


async def run(story: Story) -> None:
    with WebhookReceiver(fail_first=frozenset({"payments.refund_succeeded"})).serving() as hook:
        await _story(story, hook)


async def _story(story: Story, hook: WebhookReceiver) -> None:
    client = story.client
    tenant = await story.create_tenant()
    admin = bearer(await story.admin_token(tenant))
    customer = bearer((await story.new_customer(tenant))["token"])

    metadata = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "http://169.254.169.254/latest/meta-data/", "events": EVENTS},
        headers=admin,
    )
    errors = metadata.json().get("errors", []) if metadata.status_code == 422 else []
    story.step(
        f"register http://169.254.169.254/… → {metadata.status_code}: "
        f"{errors[0]['message'] if errors else metadata.text[:80]}"
    )
    story.check(
        metadata.status_code == 422 and [e["field"] for e in errors] == ["url"],
        "the SSRF guard refuses the cloud metadata address (nothing stored)",
    )

    created = await client.post(
        "/api/v1/webhook-endpoints", json={"url": hook.url, "events": EVENTS}, headers=admin
    )
    story.step(f"register the tour's receiver {hook.url} → {created.status_code}")
    if created.status_code == 422:
        raise TourFailedError(
            "loopback is refused: run the system with `bazaar up --demo` "
            "(or BAZAAR_SSRF_ALLOW=127.0.0.1/32) so the tour's receiver can be registered"
        )
    story.check(
        created.status_code == 201 and created.json()["secret"].startswith("whsec_"),
        "registered; the signing secret is shown this once",
    )
    endpoint = created.json()
    hook.secret = endpoint["secret"]

    paid = await client.post(
        "/api/v1/payments",
        json={"amount": {"amount": "25.00", "currency": "EUR"}, "card_token": "tok_ok"},
        headers={**customer, "idempotency-key": f"tour-{uuid.uuid4()}"},
    )
    story.check(paid.status_code == 201, "a customer pays")
    payment = paid.json()
    waited = await hook.wait_for(
        lambda: bool(hook.of("payments.payment_succeeded")), DELIVERY_WITHIN_S
    )
    payments = hook.of("payments.payment_succeeded")
    story.step(
        f"outbox → relay → webhooks consumer → dispatcher → receiver: {len(payments)} POST "
        f"after {waited * 1000:.0f} ms, {SIGNATURE_HEADER} "
        f"{'valid' if payments and payments[0].signature_ok else 'INVALID'}"
    )
    story.check(
        len(payments) == 1
        and payments[0].signature_ok
        and payments[0].body.get("data", {}).get("payment_id") == payment["id"],
        "one delivery of payments.payment_succeeded, signed with the endpoint's secret",
    )

    refunded = await client.post(
        f"/api/v1/payments/{payment['id']}/refunds",
        json={},
        headers={**admin, "idempotency-key": f"tour-{uuid.uuid4()}"},
    )
    story.check(refunded.status_code == 201, "the merchant refunds it")
    await hook.wait_for(lambda: bool(hook.of("payments.refund_succeeded")), DELIVERY_WITHIN_S)
    story.step("the receiver answers 500 to the refund's first attempt")
    waited = await hook.wait_for(
        lambda: len(hook.of("payments.refund_succeeded")) >= 2, RETRY_WITHIN_S
    )
    refunds = hook.of("payments.refund_succeeded")
    story.step(
        f"retried {waited:.1f} s later: attempts "
        f"{' → '.join(f'#{r.attempt} {r.answered}' for r in refunds)}"
    )
    story.check(
        [r.answered for r in refunds] == [500, 200]
        and len({r.delivery_id for r in refunds}) == 1
        and all(r.signature_ok for r in refunds),
        "the failed delivery was retried on the schedule and then delivered",
    )

    expected = [
        ("payments.payment_succeeded", "succeeded", 1),
        ("payments.refund_succeeded", "succeeded", 2),
    ]
    # The receiver has answered, but the dispatcher records the outcome after it reads the
    # answer: poll (bounded) until the log shows it, as any client of an async system must.
    items: list[dict[str, Any]] = []
    deadline = time.monotonic() + RECORDED_WITHIN_S
    while True:
        listed = await client.get(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=admin
        )
        items = listed.json()["items"] if listed.status_code == 200 else []
        shown = sorted((i["event_type"], i["status"], i["attempts"]) for i in items)
        if shown == expected or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    for item in items:
        codes = [a["status_code"] for a in item["attempts_log"]]
        story.step(f"GET …/deliveries: {item['event_type']} {item['status']}, attempts {codes}")
    story.check(shown == expected, "the API shows each delivery with every attempt")


SCENARIO = Scenario(
    name="webhooks",
    concept="webhooks out (signed, retried)",
    capability="§6.7",
    run=run,
)
