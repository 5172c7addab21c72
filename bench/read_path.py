"""Benchmark P1: a warm ``GET /api/v1/products/{id}`` against a bare Starlette JSON endpoint.

targets.md P1: one API process serving a product from its warm cache must reach ≥ 50 % of
the requests/s of a bare Starlette endpoint on the same server settings, with a p99 at
most 3× its p99. The method, servers and load generator are ``bench/http_baseline.py``'s
(alternating runs in one session, medians, ratios of the medians); this file adds the
product pair:

* bazaar: ``bazaar up --demo`` with a product a customer reads (bearer JWT); the warm-up
  loads it once, after which every read is an L1 hit (``X-Cache: HIT``): the path measured
  is the middleware stack, authentication (the remembered token and subject, see
  docs/caching.md "Authentication"), the cache lookup, the stock cache (1 s) and the JSON
  body;
* reference: ``GET /product`` on ``bench/reference_app.py``, a fixed body of the same shape.

``--tracing`` measures the same read on three ``bazaar up`` processes sharing one data
dir (so one token serves all three; a fourth, unmeasured, holds the background work)
instead: tracing as configured by default (every
request a server span in the in-process store), tracing off, and 1 % sampling. The ratio
of the first to the second is tracing's cost (the issue's bar: ≤ 10 % of throughput).

Run::

    python bench/read_path.py            # 5 runs x 3 s per server (~40 s)
    python bench/read_path.py --tracing  # tracing's overhead (~60 s)
    python bench/read_path.py --quick    # smoke run; writes nothing
    python bench/read_path.py --tracing --pin  # servers on one core, wrk on the other

Every run also reports the server process's CPU per request (``/proc``), steadier than
req/s on two shared cores; ``--pin`` steadies both further.

Writes ``bench/results/read_path.json`` (``read_path_tracing.json`` with ``--tracing``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import LoadGenError
from http_baseline import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    BenchError,
    Pair,
    Server,
    Side,
    bazaar_server,
    choose_generator,
    console,
    loaded_impls,
    machine_info,
    measure_pair,
    pin_apart,
    reference_server,
    render,
    start_ready,
    summarize,
    versions,
)

RESULTS = Path(__file__).resolve().parent / "results" / "read_path.json"
TRACING_RESULTS = RESULTS.with_name("read_path_tracing.json")
# The tracing variants --tracing compares; the first is the subject, as configured by default.
TRACING_VARIANTS: dict[str, tuple[str, ...]] = {
    "tracing on (default)": (),
    "tracing off": ("tracing.enabled=false",),
    "1 % sampled": ("tracing.sample_ratio=0.01",),
}
CUSTOMER_EMAIL = "bench-customer@example.com"


@dataclass(frozen=True, slots=True)
class ProductProbe:
    path: str
    token: str
    bazaar_body_bytes: int
    reference_body_bytes: int


def prepare_product(bazaar: Server, reference: Server | None) -> ProductProbe:
    """A tenant, a product, a signed-in customer; the product read once (into the cache)."""
    with httpx.Client(base_url=bazaar.base_url, timeout=10.0, trust_env=False) as client:
        created = client.post(
            "/api/v1/tenants",
            json={"name": "bench", "admin_email": BENCH_EMAIL, "admin_password": BENCH_PASSWORD},
        )
        if created.status_code != 201:
            raise BenchError(f"POST /api/v1/tenants → {created.status_code}: {created.text}")
        tenant_id = created.json()["id"]

        def login(email: str) -> str:
            answer = client.post(
                "/api/v1/auth/login",
                json={"tenant_id": tenant_id, "email": email, "password": BENCH_PASSWORD},
            )
            if answer.status_code != 200:
                raise BenchError(f"login {email} → {answer.status_code}: {answer.text}")
            return str(answer.json()["access_token"])

        admin = {"Authorization": f"Bearer {login(BENCH_EMAIL)}"}
        product = client.post(
            "/api/v1/products",
            json={
                "name": "Bench teapot",
                "description": "A cast-iron teapot, enamelled inside; holds 1.2 litres.",
                "price": {"amount": "24.90", "currency": "EUR"},
                "category": "kitchen",
                "attributes": {"colour": "black", "litres": 1.2},
                "stock": 100,
            },
            headers=admin,
        )
        if product.status_code != 201:
            raise BenchError(f"POST /api/v1/products → {product.status_code}: {product.text}")
        registered = client.post(
            "/api/v1/auth/register",
            json={"tenant_id": tenant_id, "email": CUSTOMER_EMAIL, "password": BENCH_PASSWORD},
        )
        if registered.status_code != 201:
            raise BenchError(f"register → {registered.status_code}: {registered.text}")
        token = login(CUSTOMER_EMAIL)
        path = f"/api/v1/products/{product.json()['id']}"
        headers = {"Authorization": f"Bearer {token}"}
        states = [client.get(path, headers=headers).headers.get("x-cache") for _ in range(2)]
        if states != ["MISS", "HIT"]:
            raise BenchError(f"expected a MISS then a HIT, got X-Cache {states}")
        body = client.get(path, headers=headers).content
    if reference is None:
        return ProductProbe(path, token, len(body), 0)
    reference_body = httpx.get(reference.base_url + "/product", timeout=10.0, trust_env=False)
    reference_body.raise_for_status()
    return ProductProbe(path, token, len(body), len(reference_body.content))


def wait_demo_seeded(workdir: Path, within_s: float = 120.0) -> None:
    """Wait for ``bazaar up --demo`` to finish seeding its demo shop (200 products, three
    accounts) in the background: measured while it runs, the first server would pay for it.
    ``demo.json`` is written once the shop is complete."""
    marker = workdir / "data" / "demo.json"
    deadline = time.monotonic() + within_s
    while not marker.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"the demo shop was not seeded within {within_s:g} s")
        time.sleep(0.2)


def tracing_pair(workdir: Path, stack: contextlib.ExitStack) -> tuple[Pair, ProductProbe]:
    """The tracing variants as one pair on one data dir, the default configuration first.

    A fourth, unmeasured process starts first: it migrates, seeds the demo shop and takes
    the relay's and the consumers' leases, so the background work of the deployment runs
    there and not in whichever variant would have started first.
    """
    leader = bazaar_server(workdir, "bazaar-leader")
    start_ready(leader, stack)
    wait_demo_seeded(workdir)
    servers = []
    for number, (label, settings) in enumerate(TRACING_VARIANTS.items()):
        server = bazaar_server(workdir, f"bazaar-{number}", settings)
        start_ready(server, stack)
        servers.append((label, server))
    probe = prepare_product(servers[0][1], None)
    sides = [Side(label, server, probe.path) for label, server in servers]
    return Pair("product", sides, {"Authorization": f"Bearer {probe.token}"}), probe


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="P1: warm product reads against bare Starlette.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "asyncio"), default="auto")
    parser.add_argument("--quick", action="store_true", help="2 runs x 1 s; writes nothing")
    parser.add_argument(
        "--tracing", action="store_true", help="tracing on / off / 1 %% sampled, no reference"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers on the last CPU, wrk on the others (steadier on a 2-core machine)",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 2, 1.0, 1.0
    if not 1 <= args.runs <= 50 or not 0.5 <= args.duration <= 60:
        parser.error("--runs must be 1..50 and --duration 0.5..60 s (bounded benchmark)")
    if args.output is None and not args.quick:
        args.output = TRACING_RESULTS if args.tracing else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    generator, loadgen_info = choose_generator(args.loadgen)
    started = time.perf_counter()
    machine = machine_info()
    impls: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bazaar-bench-") as tmp:
            workdir = Path(tmp)
            with contextlib.ExitStack() as stack:
                if args.tracing:
                    pair, probe = tracing_pair(workdir, stack)
                else:
                    bazaar = bazaar_server(workdir)
                    start_ready(bazaar, stack)
                    wait_demo_seeded(workdir)
                    assert bazaar.process is not None
                    seen = loaded_impls(bazaar.process.pid)
                    impls["bazaar"] = seen
                    loop, http = (seen["loop"], seen["http"]) if seen else ("auto", "auto")
                    reference = reference_server(workdir, "reference", loop, http)
                    start_ready(reference, stack)
                    probe = prepare_product(bazaar, reference)
                    pair = Pair(
                        "product",
                        [
                            Side("bazaar", bazaar, probe.path),
                            Side("reference", reference, "/product"),
                        ],
                        {"Authorization": f"Bearer {probe.token}"},
                    )
                pinning = pin_apart([side.server for side in pair.sides]) if args.pin else None
                measure_pair(pair, args, generator)
                summary = {"product": summarize(pair)}
    except KeyboardInterrupt:
        console.print("[red]interrupted; servers stopped[/]")
        return 130
    except (BenchError, LoadGenError) as exc:
        console.print(f"[red]benchmark failed:[/] {exc}")
        return 1
    elapsed = time.perf_counter() - started
    machine["load_average_at_end"] = list(os.getloadavg())
    recorded_at = datetime.now(UTC).isoformat(timespec="seconds")
    title = "read_path, tracing overhead" if args.tracing else "read_path (P1)"
    console.print(render(summary, f"{title} — {recorded_at}, {generator}"))
    report = {
        "benchmark": "read_path_tracing" if args.tracing else "read_path",
        "target": (
            "tracing on costs <= 10% of the throughput with tracing off"
            if args.tracing
            else "P1: >= 0.5x the reference's req/s, p99 <= 3x the reference's p99"
        ),
        "recorded_at": recorded_at,
        "machine": machine,
        "versions": versions(),
        "load_generator": loadgen_info | {"connections": args.connections},
        "method": {
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "warmup_seconds_per_server": args.warmup,
            "event_loop_and_http_observed": impls,
            "cpu_pinning": pinning,
            "bazaar": "bazaar up --demo, rate_limits.default=off; a customer's bearer JWT; "
            "the product warm in the L1 (X-Cache: HIT)",
            "reference": (
                {label: list(settings) for label, settings in TRACING_VARIANTS.items()}
                if args.tracing
                else "bench/reference_app.py GET /product (bare Starlette, fixed body)"
            ),
            "total_seconds": round(elapsed, 1),
        },
        "body_bytes": {
            "bazaar": probe.bazaar_body_bytes,
            "reference": probe.reference_body_bytes,
        },
        "results": summary,
    }
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
