"""Payments throughput and latency, and fail-fast latency with the PSP breaker open (R4).

Starts the PSP simulator (``bazaar psp``) and ``bazaar up --demo`` pointed at it as real
processes on 127.0.0.1. Same run, alternating, medians of the runs:

* subject: ``POST /api/v1/payments`` (tok_ok, a fresh Idempotency-Key each) through bazaar:
  auth, idempotency claim, the PSP guard (bulkhead, breaker, timeout), the PSP call, the
  payment row and the stored response;
* reference: ``POST /v1/authorizations`` straight to the simulator with the same client and
  concurrency: the PSP's own cost, which bazaar cannot go below.

Then the PSP is taken down through the fault API, the breaker opens, and the latency of the
503 answers is measured, for ``POST /api/v1/payments`` and for the checkout
(``POST /api/v1/orders``, which refuses at once while the PSP breaker is open): R4 wants
checkout p99 <= 50 ms once the breaker is open.

Usage: ``python bench/payments.py [--runs 5] [--duration 3] [--concurrency 16] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from bazaar.testing.processes import BazaarProcess, free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from http_baseline import machine_info, versions  # noqa: E402

console = Console()
PSP_KEY = "psp_bench_key"
PSP_SECRET = "whsec_bench_secret"
PASSWORD = "benchmark-password-123"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def closed_loop(
    send: Callable[[httpx.AsyncClient], Awaitable[int]],
    client: httpx.AsyncClient,
    *,
    concurrency: int,
    duration_s: float,
    expect: int,
) -> dict[str, float]:
    """``concurrency`` workers send back to back for ``duration_s``; latencies in ms."""
    latencies: list[float] = []
    unexpected = 0
    stop_at = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal unexpected
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status = await send(client)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != expect:
                unexpected += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    if unexpected:
        raise RuntimeError(f"{unexpected} answers were not {expect}")
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "requests": float(len(latencies)),
    }


async def sign_in(client: httpx.AsyncClient) -> tuple[str, str]:
    """A fresh tenant; returns (customer token, admin token)."""
    tenant = await client.post(
        "/api/v1/tenants",
        json={"name": "Bench", "admin_email": "admin@bench.test", "admin_password": PASSWORD},
    )
    tenant.raise_for_status()
    tenant_id = tenant.json()["id"]
    body = {"tenant_id": tenant_id, "email": "c@bench.test", "password": PASSWORD}
    (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
    tokens = []
    for email in ("c@bench.test", "admin@bench.test"):
        login = await client.post(
            "/api/v1/auth/login",
            json={"tenant_id": tenant_id, "email": email, "password": PASSWORD},
        )
        login.raise_for_status()
        tokens.append(str(login.json()["access_token"]))
    return tokens[0], tokens[1]


def payment_sender(token: str) -> Callable[[httpx.AsyncClient], Awaitable[int]]:
    headers = {"authorization": f"Bearer {token}"}
    body = {"amount": {"amount": "9.99", "currency": "EUR"}, "card_token": "tok_ok"}

    async def send(client: httpx.AsyncClient) -> int:
        response = await client.post(
            "/api/v1/payments", json=body, headers={**headers, "idempotency-key": str(uuid.uuid4())}
        )
        return response.status_code

    return send


async def stocked_product(client: httpx.AsyncClient, admin_token: str) -> str:
    response = await client.post(
        "/api/v1/products",
        json={
            "name": "Bench teapot",
            "price": {"amount": "9.99", "currency": "EUR"},
            "category": "kitchen",
            "stock": 1_000_000,
        },
        headers={"authorization": f"Bearer {admin_token}"},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def order_sender(token: str, product_id: str) -> Callable[[httpx.AsyncClient], Awaitable[int]]:
    headers = {"authorization": f"Bearer {token}"}
    body = {
        "items": [{"product_id": product_id, "quantity": 1}],
        "payment": {"card_token": "tok_ok"},
        "shipping_address": {
            "name": "Bench",
            "line1": "1 Loop Road",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }

    async def send(client: httpx.AsyncClient) -> int:
        response = await client.post(
            "/api/v1/orders", json=body, headers={**headers, "idempotency-key": str(uuid.uuid4())}
        )
        return response.status_code

    return send


async def psp_authorize(client: httpx.AsyncClient) -> int:
    response = await client.post(
        "/v1/authorizations",
        json={"amount": "9.99", "currency": "EUR", "card_token": "tok_ok", "capture": True},
        headers={"authorization": f"Bearer {PSP_KEY}", "idempotency-key": str(uuid.uuid4())},
    )
    return response.status_code


async def open_breaker(client: httpx.AsyncClient, token: str, admin_token: str) -> None:
    admin = {"authorization": f"Bearer {admin_token}"}
    fault = await client.put("/api/v1/admin/faults/psp", json={"outage": True}, headers=admin)
    fault.raise_for_status()
    send = payment_sender(token)
    for _ in range(50):
        await send(client)
        breakers = (await client.get("/api/v1/admin/breakers", headers=admin)).json()
        if isinstance(breakers, list) and any(
            b["name"] == "psp" and b["state"] == "open" for b in breakers
        ):
            return
    raise RuntimeError("the breaker did not open")


async def measure(args: argparse.Namespace, bazaar_url: str, psp_url: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with (
        httpx.AsyncClient(base_url=bazaar_url, timeout=30, limits=limits) as api,
        httpx.AsyncClient(base_url=psp_url, timeout=30, limits=limits) as psp,
    ):
        token, admin_token = await sign_in(api)
        pay = payment_sender(token)
        order = order_sender(token, await stocked_product(api, admin_token))
        warm = dict(concurrency=args.concurrency, duration_s=1.0, expect=201)
        await closed_loop(pay, api, **warm)  # type: ignore[arg-type]
        await closed_loop(psp_authorize, psp, **warm)  # type: ignore[arg-type]
        runs: dict[str, list[dict[str, float]]] = {"bazaar": [], "psp_direct": []}
        for _ in range(args.runs):
            options = dict(concurrency=args.concurrency, duration_s=args.duration, expect=201)
            runs["bazaar"].append(await closed_loop(pay, api, **options))  # type: ignore[arg-type]
            runs["psp_direct"].append(await closed_loop(psp_authorize, psp, **options))  # type: ignore[arg-type]
        await open_breaker(api, token, admin_token)
        open_runs: list[dict[str, float]] = []
        open_order_runs: list[dict[str, float]] = []
        for _ in range(args.runs):
            # Alternating, so both see the same machine; the breaker stays open throughout
            # (its cooldown is set longer than the whole phase).
            for send, into in ((pay, open_runs), (order, open_order_runs)):
                into.append(
                    await closed_loop(
                        send,
                        api,
                        concurrency=args.open_concurrency,
                        duration_s=min(args.duration, 2.0),
                        expect=503,
                    )
                )
    return {
        "runs": runs,
        "breaker_open_runs": open_runs,
        "breaker_open_order_runs": open_order_runs,
    }


def summarize(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        key: {
            "median": statistics.median(v[key] for v in values),
            "min": min(v[key] for v in values),
            "max": max(v[key] for v in values),
        }
        for key in ("rps", "p50_ms", "p99_ms")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--open-concurrency",
        type=int,
        default=4,
        help="concurrent clients while the breaker is open (R4 measures fail-fast latency, "
        "not how far a 2-core box can be saturated)",
    )
    parser.add_argument("--quick", action="store_true", help="2 runs of 1 s (smoke test)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "payments.json")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration = 2, 1.0
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        psp_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        psp = subprocess.Popen(
            [sys.executable, "-m", "bazaar", "psp", "--port", str(psp_port), "--data-dir",
             str(Path(tmp) / "psp"), "--api-key", PSP_KEY, "--webhook-secret", PSP_SECRET],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stack.callback(lambda: (psp.send_signal(signal.SIGTERM), psp.wait(15)))
        psp_url = f"http://127.0.0.1:{psp_port}"
        bazaar = BazaarProcess(
            Path(tmp) / "bazaar",
            "--set", f"psp_url={psp_url}", "--set", f"psp_api_key={PSP_KEY}",
            "--set", f"psp_webhook_secret={PSP_SECRET}", "--set", "log_level=warning",
            "--set", "breaker.cooldown_s=300",
            # One user paying flat out is what the limits refuse (ADR 0007); measured apart.
            "--set", "rate_limits.default=off", "--set", "rate_limits.payments=off",
        )  # fmt: skip
        stack.callback(bazaar.close)
        stack.callback(lambda: bazaar.process.poll() is None and bazaar.terminate())
        bazaar.wait_ready()
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{psp_url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        raw = asyncio.run(measure(args, bazaar.base_url, psp_url))
    subject = summarize(raw["runs"]["bazaar"])
    reference = summarize(raw["runs"]["psp_direct"])
    breaker_open = summarize(raw["breaker_open_runs"])
    checkout_open = summarize(raw["breaker_open_order_runs"])
    ratio = subject["rps"]["median"] / reference["rps"]["median"]
    result = {
        "benchmark": "payments",
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "versions": versions(),
        "parameters": {
            "runs": args.runs,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "open_concurrency": args.open_concurrency,
        },
        "bazaar_payments": subject,
        "psp_direct_authorizations": reference,
        "ratio_rps": ratio,
        "breaker_open": breaker_open,
        "checkout_breaker_open": checkout_open,
        "r4_p99_ms_target": 50.0,
        "r4_met": checkout_open["p99_ms"]["median"] <= 50.0,
        "raw": raw,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    table = Table(
        title=f"payments, {args.runs} runs × {args.duration:.0f} s, {args.concurrency} concurrent"
    )
    for column in ("what", "req/s (median, min–max)", "p50 ms", "p99 ms"):
        table.add_column(column)
    for name, stats in (
        ("POST /api/v1/payments (bazaar)", subject),
        ("POST /v1/authorizations (PSP direct)", reference),
        ("POST /api/v1/payments, breaker open (503)", breaker_open),
        ("POST /api/v1/orders, breaker open (503)", checkout_open),
    ):
        rps = stats["rps"]
        table.add_row(
            name,
            f"{rps['median']:.0f} ({rps['min']:.0f}–{rps['max']:.0f})",
            f"{stats['p50_ms']['median']:.1f}",
            f"{stats['p99_ms']['median']:.1f}",
        )
    console.print(table)
    console.print(
        f"bazaar payments/s ÷ direct PSP authorizations/s = {ratio:.2f}; "
        f"breaker open, p99 of checkout {checkout_open['p99_ms']['median']:.1f} ms and of "
        f"payments {breaker_open['p99_ms']['median']:.1f} ms (R4, checkout, target ≤ 50 ms: "
        f"{'met' if result['r4_met'] else 'NOT met'}); written to {args.output}"
    )


if __name__ == "__main__":
    main()
