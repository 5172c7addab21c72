"""Benchmarks P2 and P3: checkout throughput and time to ``completed``, same-run references.

targets.md P2 and P3: ``POST /api/v1/orders`` to ``completed`` (the checkout saga: reserve,
authorize, capture, ship, confirm), PSP simulator at 0 ms latency, card ``tok_ok``.

* ``sqlite`` (P2): ``bazaar up --demo`` as a real process — one process: the API, the PSP
  simulator ``up`` starts beside it (no latency injected; it is 0 unless set through the
  fault API; webhooks back to the API), the mail sink and the worker (relay, consumers,
  cron), on SQLite files in a temp data dir. Reference: raw single-row commits/s through
  aiosqlite on one connection, with the writer pragmas of ``infra/db/engine.py`` (WAL,
  synchronous=NORMAL, foreign_keys, busy_timeout) and its ``BEGIN IMMEDIATE``: BEGIN
  IMMEDIATE, one INSERT, COMMIT — ÷ the commits per order counted below.
* ``postgres`` (P3): a private cluster (``bazaar.testing.servers.PostgresServer``: fsync and
  synchronous_commit off), ``bazaar db upgrade``, the PSP simulator as its own process
  (``bazaar psp``, webhooks to the API) and ``bazaar api --workers 2`` (``--api-processes
  1,2`` also measures one process: P13's 1→2 gain). No worker process runs: the outbox only
  fills. References: raw single-row commits/s with asyncpg on 8 connections (``async with
  conn.transaction()``: BEGIN, one INSERT, COMMIT) ÷ commits per order, and ``pgbench``
  tpcb-like TPS (scale 1, 8 clients, 2 threads) on the same cluster.

**Commits per order** are counted here, in process, before the load: the same app
(``build_container`` + ``create_app``, the same settings but the database) behind
``httpx.ASGITransport``, the PSP simulator in process (``bazaar.psp.testing``) delivering
its webhooks to the app, orders placed one at a time over the HTTP API and each awaited to
``completed``. SQLAlchemy ``commit``/``rollback``/``before_cursor_execute`` listeners on
bazaar's engines (never on the simulator's database) attribute every transaction and
statement by a context variable to the request, the saga (its task inherits the request's
context), the PSP webhooks or the worker. *Commits per order* = the COMMITs of the request
(key claim, order), the saga (claim, steps, write-ahead records, the payments context's
transactions) and the PSP webhooks. Reported beside it, not divided by: write transactions
ending in ROLLBACK, SQL statements, calls into aiosqlite's thread (SQLite), the worker's
commits (sequential rate), the sequential CPU per order, and each commit's call site.

**Closed loop.** ``c`` concurrent customer loops each place an order, learn that it
completed, and place the next (loop ``i`` buys product ``i``: no two orders in flight share
a stock row, unless ``--products 1``). Completion is learned by polling ``GET
/api/v1/orders/{id}``: first at the level's running median time to completion, then after
20% of the order's age (10 ms–1 s), ~1.5–2 polls per order; the benchmark also measures
what one GET costs the server. The time does not depend on the polling: time to completed
= the saga timeline's last ``finished_at`` (``confirm_order``, stamped by the server in the
transaction that completes the order) − the client's ``time.time()`` just before the POST
(same host, same clock). A level runs a ramp (1.5 × its running median time to completion,
capped by ``--max-warmup``) then the measured window (``--duration``); orders/s = orders
completed inside the window ÷ the window, p50/p99 over the same orders. Then the loops stop
placing and the outstanding orders finish, so the next level starts idle. The server's CPU
(user + system, from /proc, per process group) over the level's whole run ÷ the orders it
placed gives CPU ms per order; the machine's other load (busy cores that are neither bazaar
nor this client) is recorded too — the machine is shared.

Per configuration: one short warm-up of every level, then ``--runs`` rounds, each the
reference(s) and then every level (in reverse order on odd rounds); medians of the rounds
with min–max, and the ratio of each round's orders/s to its own ceiling.

Usage: ``python bench/checkout.py [--configs sqlite,postgres] [--runs 5] [--quick]``;
``--tracing N`` instead measures tracing's cost: N passes over tracing on / off / 1 %
sampled, each variant a whole run (``bench/results/checkout_tracing.json``).
(``--quick``: 2 rounds, levels 1,4, ~1–1.5 minutes; does not overwrite the recorded
results unless ``--output`` is given). Writes ``bench/results/checkout.json`` and
``bench/results/checkout_throughput.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
import orjson
from rich.console import Console
from rich.table import Table

from bazaar.testing.processes import BazaarProcess, free_port
from bazaar.testing.servers import PostgresServer

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from http_baseline import machine_info, versions  # noqa: E402

console = Console() if sys.stdout.isatty() else Console(width=150)
RESULTS = BENCH_DIR / "results" / "checkout.json"
TRACING_RESULTS = BENCH_DIR / "results" / "checkout_tracing.json"
# --tracing: the same checkout with tracing as configured by default, off, and 1 % sampled.
TRACING_VARIANTS: dict[str, tuple[str, ...]] = {
    "tracing on (default)": (),
    "tracing off": ("tracing.enabled=false",),
    "1 % sampled": ("tracing.sample_ratio=0.01",),
}
PLOT = BENCH_DIR / "results" / "checkout_throughput.png"
CONFIGS = ("sqlite", "postgres")
TARGET_RATIO = 0.4
PASSWORD = "benchmark-password-123"  # only ever sent to a throwaway local server
OPERATOR_KEY = "bench-operator-key-0123456789abcdef"
PSP_KEY = "psp_bench_key"
PSP_SECRET = "whsec_bench_secret_0123456789"
STOCK = 1_000_000_000
TERMINAL = frozenset({"completed", "cancelled", "needs_attention"})
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}
# The bazaar engine's SQLite pragmas (infra/db/engine.py, the writer connection).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


STARTED = time.perf_counter()


def note(message: str) -> None:
    console.print(f"[dim]{time.perf_counter() - STARTED:6.1f} s[/] {message}")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (as the other benchmarks)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def parse_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc; Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def machine_busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine so far (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (all their threads) so far, plus what their
    exited children used (a pool's closed PostgreSQL connection ends its backend process)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


# --- commits per order, counted in process ---------------------------------------------------

ROLE: contextvars.ContextVar[str] = contextvars.ContextVar("bench_role", default="other")


class _LateApp:
    """An ASGI app set after the fact (the simulator needs the webhook target before the
    bazaar app exists); calls through it are the PSP's webhook deliveries."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = ROLE.set("webhooks")
        try:
            await self.app(scope, receive, send)
        finally:
            ROLE.reset(token)


def _site() -> str:
    """The bazaar frames (outside infra/db) of the coroutine that is committing.

    SQLAlchemy runs the driver calls in a greenlet whose parent holds the awaiting
    coroutine frames; the innermost bazaar frame names the transaction.
    """
    import greenlet

    current = greenlet.getcurrent()
    frame = current.parent.gr_frame if current.parent is not None else None
    names: list[str] = []
    while frame is not None and len(names) < 2:
        path = frame.f_code.co_filename
        if "/bazaar/" in path and "/infra/db/" not in path and "adapters/repository" not in path:
            module = path.split("/bazaar/")[-1].removesuffix(".py").replace("/", ".")
            names.append(f"{module}.{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(names) or "?"


async def count_commits(
    data_dir: Path, database_url: str | None, orders: int, *, worker: bool
) -> dict[str, Any]:
    """Place ``orders`` orders one at a time in process; count bazaar's transactions."""
    from sqlalchemy import event

    from bazaar.api.app import create_app
    from bazaar.bootstrap import build_container, build_worker
    from bazaar.infra.db.migrate import upgrade
    from bazaar.kernel.observability.logging import configure_logging
    from bazaar.psp.testing import running_psp
    from bazaar.settings import Settings

    configure_logging("warning", json=False)
    late = _LateApp()
    counts: Counter[tuple[str, str, str]] = Counter()
    sites: Counter[tuple[str, str, str]] = Counter()
    async with running_psp(
        data_dir / "psp",
        api_key=PSP_KEY,
        webhook_secret=PSP_SECRET,
        webhook_url="http://bazaar.test/api/v1/webhooks/psp",
        webhook_transport=httpx.ASGITransport(app=late),
    ) as psp:
        settings = Settings(
            data_dir=data_dir / "bazaar",
            demo=True,
            psp_url="http://psp.test",
            psp_api_key=PSP_KEY,
            psp_webhook_secret=PSP_SECRET,
            log_level="warning",
            **({"database_url": database_url} if database_url else {}),
        )
        container = await build_container(settings, psp_transport=httpx.ASGITransport(app=psp.app))
        try:
            database = container.database
            engines = {"writer": database.engine}
            if database.read_engine is not database.engine:
                engines["reader"] = database.read_engine
            for name, engine in engines.items():
                for kind in ("commit", "rollback"):

                    def listen(*_: Any, name: str = name, kind: str = kind) -> None:
                        counts[(ROLE.get(), name, kind)] += 1
                        if name == "writer":
                            sites[(ROLE.get(), kind, _site())] += 1

                    event.listen(engine.sync_engine, kind, listen)

                def statement(*_: Any, name: str = name) -> None:
                    counts[(ROLE.get(), name, "statement")] += 1

                event.listen(engine.sync_engine, "before_cursor_execute", statement)
            await upgrade(database.engine)
            app = create_app(container)
            late.app = app
            stop = asyncio.Event()
            token = ROLE.set("sweeper")
            async with app.router.lifespan_context(app):
                ROLE.set("worker")
                background = asyncio.create_task(
                    build_worker(container).run(stop) if worker else stop.wait()
                )
                ROLE.set("setup")
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bazaar.test", timeout=60
                ) as client:
                    shop = await open_shop(client, customers=1)
                    counts.clear()
                    sites.clear()
                    window_began = time.perf_counter()
                    with _counting_aiosqlite_calls(data_dir / "bazaar", counts):
                        began, cpu = time.perf_counter(), time.process_time()
                        for _ in range(orders):
                            ROLE.set("checkout")
                            response = await shop.place(client, 0)
                            ROLE.set("reads")
                            order_id = int(response.json()["id"])
                            record = await container.orders.supervisor.wait(order_id)
                            if record is None or record.state.value != "completed":
                                raise RuntimeError(f"order {order_id} ended {record}")
                        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
                    # The webhooks and the worker's relay/consumers finish after the saga.
                    ROLE.set("idle")

                    def progress() -> int:
                        # Lease renewals never stop; everything else does once the
                        # last order's events went through the worker.
                        return sum(n for k, n in counts.items() if k[0] != "worker") + sum(
                            n for k, n in sites.items() if "kernel.locks" not in k[2]
                        )

                    # Idle consumers poll every 0.05–2 s: wait out their longest pause.
                    await _settle(progress, quiet_s=2.5 if worker else 0.6)
                    window = time.perf_counter() - window_began
                    # Stopping the worker hands its leases back: not part of the window.
                    final, final_sites = Counter(counts), Counter(sites)
                stop.set()
                await background
            ROLE.reset(token)
        finally:
            await container.aclose()

    def total(role: str, kind: str, engine: str = "writer") -> int:
        return final[(role, engine, kind)]

    per_order = {
        "request_and_saga": total("checkout", "commit") / orders,
        "psp_webhooks": total("webhooks", "commit") / orders,
    }
    commits = sum(per_order.values())
    worker_sites = {k: v for k, v in final_sites.items() if k[0] == "worker" and k[1] == "commit"}
    return {
        "orders": orders,
        "commits_per_order": commits,
        "commits_per_order_by_part": per_order,
        "write_rollbacks_per_order": (total("checkout", "rollback") + total("webhooks", "rollback"))
        / orders,
        # The worker's commits for the orders' events (relay, consumers), and those it makes
        # on a timer whatever the load (lease renewals and hand-overs, the webhook
        # dispatcher's poll) as a rate over the counting window.
        "worker_commits_per_order": sum(v for k, v in worker_sites.items() if not _periodic(k[2]))
        / orders,
        "worker_periodic_commits_per_s": sum(v for k, v in worker_sites.items() if _periodic(k[2]))
        / window,
        # SQL statements sent (SQLite's BEGIN IMMEDIATE is one; COMMITs are not) and, on
        # SQLite, calls into aiosqlite's connection thread (each a hand-off there and back).
        "statements_per_order": {
            part: sum(n for (r, _, k), n in final.items() if r == role and k == "statement")
            / orders
            for part, role in (("request_and_saga", "checkout"), ("psp_webhooks", "webhooks"))
        },
        "aiosqlite_calls_per_order": {
            part: sum(n for (r, _, k), n in final.items() if r == role and k == "aiosqlite")
            / orders
            for part, role in (("request_and_saga", "checkout"), ("psp_webhooks", "webhooks"))
        },
        "sequential_wall_ms_per_order": wall / orders * 1000,
        "sequential_cpu_ms_per_order": cpu / orders * 1000,
        "by_site_per_order": {
            f"{role} {kind}: {site}": round(n / orders, 3)
            for (role, kind, site), n in sorted(final_sites.items(), key=lambda kv: -kv[1])
            if role in ("checkout", "webhooks", "worker")
        },
        "counts": {" ".join(k): v for k, v in sorted(final.items())},
    }


def _periodic(site: str) -> bool:
    return "kernel.locks" in site or "dispatcher.run_once" in site


@contextlib.contextmanager
def _counting_aiosqlite_calls(under: Path, counts: Counter[Any]) -> Iterator[None]:
    """Count calls into aiosqlite's connection threads for databases under ``under``
    (bazaar's; not the PSP simulator's), by role."""
    original = aiosqlite.Connection._execute
    root = str(under.resolve())

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        cells = getattr(self._connector, "__closure__", None) or ()
        if any(isinstance(c.cell_contents, str) and root in c.cell_contents for c in cells):
            counts[(ROLE.get(), "writer", "aiosqlite")] += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def _settle(progress: Callable[[], int], quiet_s: float, limit_s: float = 10.0) -> None:
    """Wait until ``progress()`` stood still for ``quiet_s`` (at most ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    seen = progress()
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = progress()
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return


# --- references -------------------------------------------------------------------------------


async def raw_sqlite_commits(path: Path, duration_s: float) -> dict[str, float]:
    """Single-row transactions through aiosqlite on one connection, bazaar's pragmas."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        for pragma in SQLITE_PRAGMAS:
            await conn.execute(pragma)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_commits (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"
        )
        count = 0
        began = time.perf_counter()
        stop_at = began + duration_s
        while time.perf_counter() < stop_at:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("INSERT INTO bench_commits (v) VALUES (?)", ("x" * 32,))
            await conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - began
        await conn.execute("DELETE FROM bench_commits")
    return {"commits_per_s": count / elapsed, "commits": float(count)}


async def raw_asyncpg_commits(dsn: str, connections: int, duration_s: float) -> dict[str, float]:
    """Single-row transactions (BEGIN, INSERT, COMMIT) on ``connections`` asyncpg connections."""
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    try:
        await conns[0].execute(
            "CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, v text NOT NULL)"
        )
        counts = [0] * connections
        began = time.perf_counter()
        stop_at = began + duration_s

        async def loop(index: int) -> None:
            conn = conns[index]
            while time.perf_counter() < stop_at:
                async with conn.transaction():
                    await conn.execute("INSERT INTO bench_commits (v) VALUES ($1)", "x" * 32)
                counts[index] += 1

        await asyncio.gather(*(loop(i) for i in range(connections)))
        elapsed = time.perf_counter() - began
        await conns[0].execute("TRUNCATE bench_commits")
    finally:
        for conn in conns:
            await conn.close()
    return {"commits_per_s": sum(counts) / elapsed, "commits": float(sum(counts))}


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


def pgbench_tps(pg: PostgresServer, database: str, clients: int, duration_s: int) -> float:
    """``pgbench`` tpcb-like (the default script) on ``database``; TPS without connection time."""
    done = subprocess.run(
        [str(pg.bin_dir / "pgbench"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(duration_s), "-n", database],
        capture_output=True, text=True, timeout=duration_s + 60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
    )  # fmt: skip
    match = _TPS.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr or done.stdout}")
    return float(match.group(1))


def pgbench_init(pg: PostgresServer, database: str, scale: int) -> None:
    done = subprocess.run(
        [str(pg.bin_dir / "pgbench"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-i", "-s", str(scale), "-q", database],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed: {done.stderr or done.stdout}")


# --- the shop and the closed loop -------------------------------------------------------------


@dataclass
class Shop:
    """A tenant, products with (practically) unlimited stock, and signed-in customers."""

    products: list[str]
    tokens: list[str]

    async def place(self, client: httpx.AsyncClient, customer: int) -> httpx.Response:
        response = await client.post(
            "/api/v1/orders",
            json={
                "items": [
                    {"product_id": self.products[customer % len(self.products)], "quantity": 1}
                ],
                "payment": {"card_token": "tok_ok"},
                "shipping_address": ADDRESS,
            },
            headers={
                "authorization": f"Bearer {self.tokens[customer % len(self.tokens)]}",
                "idempotency-key": str(uuid.uuid4()),
            },
        )
        if response.status_code != 202:
            raise RuntimeError(f"POST /orders answered {response.status_code}: {response.text}")
        return response


async def open_shop(
    client: httpx.AsyncClient, *, customers: int, products: int = 1, operator_key: str | None = None
) -> Shop:
    """A fresh tenant, its admin, ``products`` products and ``customers`` customers.

    Customers cost two argon2 hashes each on the server (register, login), so a few are
    shared by the concurrent loops; nothing in the checkout is serialized per customer.
    """
    suffix = uuid.uuid4().hex[:8]
    admin = f"admin-{suffix}@bench.test"
    headers = {"x-operator-key": operator_key} if operator_key else {}
    tenant = await client.post(
        "/api/v1/tenants",
        json={"name": f"bench-{suffix}", "admin_email": admin, "admin_password": PASSWORD},
        headers=headers,
    )
    tenant.raise_for_status()
    tenant_id = tenant.json()["id"]

    async def login(email: str) -> str:
        response = await client.post(
            "/api/v1/auth/login",
            json={"tenant_id": tenant_id, "email": email, "password": PASSWORD},
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    admin_token = await login(admin)

    async def product(index: int) -> str:
        response = await client.post(
            "/api/v1/products",
            json={
                "name": f"Bench teapot {index} {suffix}",
                "price": {"amount": "24.90", "currency": "EUR"},
                "category": "kitchen",
                "stock": STOCK,
            },
            headers={"authorization": f"Bearer {admin_token}"},
        )
        response.raise_for_status()
        return str(response.json()["id"])

    product_ids = [await product(i) for i in range(products)]

    async def customer(index: int) -> str:
        email = f"c{index}-{suffix}@bench.test"
        body = {"tenant_id": tenant_id, "email": email, "password": PASSWORD}
        (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
        return await login(email)

    tokens = list(await asyncio.gather(*(customer(i) for i in range(customers))))
    return Shop(product_ids, tokens)


@dataclass(slots=True)
class OrderRecord:
    placed: float  # client time.time() before the POST
    accepted: float  # client time.time() after the 202
    completed: float  # server: the saga's last finished_at
    observed: float  # client time.time() when a poll saw it terminal
    polls: int
    status: str


@dataclass
class Estimate:
    """Running median time to completion of one level, for the polling schedule."""

    seconds: float
    recent: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.recent.append(value)
        del self.recent[:-32]
        self.seconds = statistics.median(self.recent)


async def settle_order(
    client: httpx.AsyncClient, shop: Shop, customer: int, order_id: str, estimate: Estimate,
    placed: float, timeout_s: float,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    """Poll until the order is terminal: first at the level's running median time to
    completion, then after 20% of the time the order has taken so far (10 ms–1 s)."""
    headers = {"authorization": f"Bearer {shop.tokens[customer % len(shop.tokens)]}"}
    await asyncio.sleep(max(0.0, placed + estimate.seconds - time.time()))
    polls = 0
    while True:
        response = await client.get(f"/api/v1/orders/{order_id}", headers=headers)
        polls += 1
        response.raise_for_status()
        order: dict[str, Any] = response.json()
        if order["status"] in TERMINAL:
            return order, polls
        if time.time() - placed > timeout_s:
            raise RuntimeError(f"order {order_id} not terminal after {timeout_s:.0f} s")
        await asyncio.sleep(min(1.0, max(0.01, 0.2 * (time.time() - placed))))


async def closed_loop(
    client: httpx.AsyncClient,
    shop: Shop,
    *,
    level: int,
    warmup_s: float,
    duration_s: float,
    estimate: Estimate,
    timeout_s: float,
    cpu: Callable[[], dict[str, float]],
    allow_empty: bool = False,
) -> dict[str, Any] | None:
    """``level`` customers place-and-await orders; figures over the measured window."""
    records: list[OrderRecord] = []
    began = time.time()
    window = (began + warmup_s, began + warmup_s + duration_s)

    async def customer(index: int) -> None:
        while time.time() < window[1]:
            placed = time.time()
            response = await shop.place(client, index)
            accepted = time.time()
            order, polls = await settle_order(
                client, shop, index, response.json()["id"], estimate, placed, timeout_s
            )
            steps = order["saga"]["steps"] if order.get("saga") else []
            finished = [parse_ts(s["finished_at"]) for s in steps if s.get("finished_at")]
            completed = max(finished) if finished else parse_ts(order["updated_at"])
            records.append(
                OrderRecord(placed, accepted, completed, time.time(), polls, order["status"])
            )
            if order["status"] == "completed":
                estimate.add(completed - placed)

    cpu_before, server_before, machine_before = time.process_time(), cpu(), machine_busy_seconds()
    await asyncio.gather(*(customer(i) for i in range(level)))
    drained = time.time()
    server_after, machine_after = cpu(), machine_busy_seconds()
    client_cpu = time.process_time() - cpu_before
    ours = sum(server_after[g] - server_before[g] for g in server_after)
    other_cpu = machine_after - machine_before - client_cpu - ours
    failed = [r for r in records if r.status != "completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} orders ended {Counter(r.status for r in failed)}")
    inside = [r for r in records if window[0] <= r.completed < window[1]]
    if not inside:
        if allow_empty:
            return None
        raise RuntimeError(f"no order completed in the {duration_s:g} s window at level {level}")
    latencies = [(r.completed - r.placed) * 1000 for r in inside]
    return {
        "level": level,
        "orders_per_s": len(inside) / duration_s,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "post_p50_ms": percentile([(r.accepted - r.placed) * 1000 for r in inside], 50),
        "orders_in_window": len(inside),
        "orders_total": len(records),
        "polls_per_order": sum(r.polls for r in records) / len(records),
        "poll_lag_p50_ms": percentile([(r.observed - r.completed) * 1000 for r in inside], 50),
        "warmup_s": warmup_s,
        "drain_s": drained - window[1],
        "client_cpu_s": client_cpu,
        # Busy cores of the whole machine, and of what is neither bazaar nor this client
        # (other work on the shared machine).
        "machine_busy": (machine_after - machine_before) / (drained - began),
        "other_busy": other_cpu / (drained - began),
        # Over the whole level run (ramp, window, drain) ÷ every order it placed.
        "cpu_ms_per_order": {
            group: (server_after[group] - server_before[group]) * 1000 / len(records)
            for group in server_after
        },
        "cpu_busy": {
            group: (server_after[group] - server_before[group]) / (drained - began)
            for group in server_after
        },
    }


# --- the systems under test -------------------------------------------------------------------


@dataclass
class System:
    """A running configuration: bazaar's URL and what its references need."""

    name: str
    base_url: str
    operator_key: str | None
    reference: Any  # async () -> dict of reference figures for one round
    cpu: Callable[[], dict[str, float]]  # CPU seconds so far by process group
    details: dict[str, Any] = field(default_factory=dict)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}


def _wait_http(url: str, process: subprocess.Popen[bytes], within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {within_s:.0f} s")


def _wait_workers(root: int, workers: int, within_s: float = 60.0) -> None:
    """Until ``workers`` processes under ``root`` exist and have finished starting (their CPU
    time grows by < 20 ms in 0.5 s): the client's connections must reach all of them.
    (``--workers 1`` serves in ``root`` itself; more are its children.)"""
    deadline = time.monotonic() + within_s
    needed = 1 if workers == 1 else workers + 1
    while time.monotonic() < deadline:
        tree = process_tree(root)
        used = cpu_seconds(tree)
        time.sleep(0.5)
        if len(tree) >= needed and cpu_seconds(tree) - used < 0.02:
            return
    raise RuntimeError(f"bazaar api did not start {workers} workers within {within_s:.0f} s")


def _stop(process: subprocess.Popen[bytes], within_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(within_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def sqlite_system(
    workdir: Path, reference_s: float, settings: Sequence[str] = ()
) -> Iterator[System]:
    """``bazaar up --demo`` on SQLite files in ``workdir``; its PSP at 0 ms latency."""
    bazaar = BazaarProcess(
        workdir / "up",
        "--set", "log_level=warning",
        "--set", "auth.access_token_ttl_s=3600",
        "--set", "host=127.0.0.1",
        # A few users ordering flat out is what the limits refuse (ADR 0007); measured apart.
        "--set", "rate_limits.default=off", "--set", "rate_limits.payments=off",
        *_set_arguments(settings),
    )  # fmt: skip
    try:
        bazaar.wait_ready(60)
        raw_path = workdir / "raw-commits.db"

        async def reference() -> dict[str, float]:
            raw = await raw_sqlite_commits(raw_path, reference_s)
            return {"raw_commits_per_s": raw["commits_per_s"]}

        pid = bazaar.process.pid
        yield System(
            "sqlite",
            bazaar.base_url,
            None,
            reference,
            lambda: {"bazaar up": cpu_seconds(process_tree(pid))},
            {"pid": pid, "command": "bazaar up --demo (API + PSP + worker)"},
        )
    finally:
        with contextlib.suppress(Exception):
            bazaar.terminate()
        bazaar.close()


def _set_arguments(settings: Sequence[str]) -> list[str]:
    return [argument for setting in settings for argument in ("--set", setting)]


@contextlib.contextmanager
def postgres_system(
    workdir: Path,
    pg: PostgresServer,
    processes: int,
    reference_s: float,
    pgbench_s: int,
    settings: Sequence[str] = (),
) -> Iterator[System]:
    """PSP (``bazaar psp``) and ``bazaar api --workers N`` on database ``bazaar`` of ``pg``."""
    database_url = pg.sqlalchemy_url("bazaar")
    workdir.mkdir(parents=True, exist_ok=True)
    api_port, psp_port = free_port(), free_port()
    env = {
        **_env(),
        "BAZAAR_DATABASE_URL": database_url,
        "BAZAAR_DATA_DIR": str(workdir / "api"),
        "BAZAAR_HOST": "127.0.0.1",
        "BAZAAR_PSP_URL": f"http://127.0.0.1:{psp_port}",
        "BAZAAR_PSP_API_KEY": PSP_KEY,
        "BAZAAR_PSP_WEBHOOK_SECRET": PSP_SECRET,
        "BAZAAR_OPERATOR_KEY": OPERATOR_KEY,
        "BAZAAR_LOG_LEVEL": "warning",
        "BAZAAR_AUTH__ACCESS_TOKEN_TTL_S": "3600",
        "BAZAAR_RATE_LIMITS__DEFAULT": "off",
        "BAZAAR_RATE_LIMITS__PAYMENTS": "off",
    }
    psp = subprocess.Popen(
        [sys.executable, "-m", "bazaar", "psp", "--port", str(psp_port),
         "--data-dir", str(workdir / "psp"), "--api-key", PSP_KEY,
         "--webhook-secret", PSP_SECRET,
         "--webhook-url", f"http://127.0.0.1:{api_port}/api/v1/webhooks/psp"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    api: subprocess.Popen[bytes] | None = None
    try:
        log = (workdir / "api.log").open("wb")
        stack = contextlib.ExitStack()
        stack.callback(log.close)
        with stack:
            api = subprocess.Popen(
                [sys.executable, "-m", "bazaar", "api", "--workers", str(processes),
                 "--port", str(api_port), *_set_arguments(settings)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            _wait_http(f"http://127.0.0.1:{psp_port}/healthz", psp)
            _wait_http(f"http://127.0.0.1:{api_port}/readyz", api)

            async def reference() -> dict[str, float]:
                raw = await raw_asyncpg_commits(pg.dsn("raw"), 8, reference_s)
                tps = await asyncio.to_thread(pgbench_tps, pg, "pgbench", 8, pgbench_s)
                return {"raw_commits_per_s": raw["commits_per_s"], "pgbench_tps": tps}

            _wait_workers(api.pid, processes)
            postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])

            def cpu() -> dict[str, float]:
                return {
                    "bazaar api": cpu_seconds(process_tree(api.pid)),
                    "psp": cpu_seconds([psp.pid]),
                    "postgres": cpu_seconds(process_tree(postmaster)),
                }

            yield System(
                "postgres",
                f"http://127.0.0.1:{api_port}",
                OPERATOR_KEY,
                reference,
                cpu,
                {"api_processes": processes, "command": f"bazaar api --workers {processes}"},
            )
    finally:
        if api is not None:
            _stop(api)
        _stop(psp)


def prepare_postgres(pg: PostgresServer) -> str:
    """Databases: ``bazaar`` (migrated with ``bazaar db upgrade``), ``raw``, ``pgbench``,
    ``counting`` (the in-process commit count); returns the last one's URL."""
    url = pg.create_database("bazaar")
    for name in ("raw", "pgbench"):
        pg.create_database(name)
    done = subprocess.run(
        [sys.executable, "-m", "bazaar", "db", "upgrade"],
        env={**_env(), "BAZAAR_DATABASE_URL": url}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bazaar db upgrade failed: {done.stdout}{done.stderr}")
    return pg.create_database("counting")


# --- one configuration ------------------------------------------------------------------------


async def measure(system: System, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=max(args.levels) * 2 + 4)
    async with httpx.AsyncClient(
        base_url=system.base_url, timeout=60, limits=limits, trust_env=False
    ) as client:
        shop = await open_shop(
            client,
            customers=args.customers,
            products=max(args.levels) if args.products == 0 else args.products,
            operator_key=system.operator_key,
        )
        estimates = {level: Estimate(0.3) for level in args.levels}
        # Warm-up: every level once for a short while, which also seeds the estimates; the
        # next level's first guess scales by Little's law (a saturated closed loop's time to
        # completion grows with the number of customers).
        for level, following in zip(args.levels, [*args.levels[1:], None], strict=True):
            await closed_loop(
                client, shop, level=level, warmup_s=0.0, duration_s=args.warmup,
                estimate=estimates[level], timeout_s=args.order_timeout, cpu=system.cpu,
                allow_empty=True,
            )  # fmt: skip
            if following is not None:
                estimates[following].seconds = 0.7 * estimates[level].seconds * following / level
        polls = await poll_cost(client, shop, system.cpu, args.poll_cost_gets)
        note(f"{system.name}: shop open, levels warmed up")
        rounds: list[dict[str, Any]] = []
        for index in range(args.runs):
            reference = await system.reference()
            levels = args.levels if index % 2 == 0 else list(reversed(args.levels))
            figures: dict[int, dict[str, Any]] = {}
            for level in levels:
                estimate = estimates[level]
                measured = await closed_loop(
                    client, shop, level=level,
                    warmup_s=min(args.max_warmup, max(0.2, 1.5 * estimate.seconds)),
                    duration_s=args.duration, estimate=estimate, timeout_s=args.order_timeout,
                    cpu=system.cpu,
                )  # fmt: skip
                assert measured is not None
                figures[level] = measured
            rounds.append({"reference": reference, "levels": [figures[lv] for lv in args.levels]})
            best = max(f["orders_per_s"] for f in figures.values())
            note(
                f"{system.name} round {index + 1}/{args.runs}: raw "
                f"{reference['raw_commits_per_s']:,.0f} commits/s"
                + (f", pgbench {reference['pgbench_tps']:,.0f} TPS" if "pgbench_tps" in reference
                   else "")
                + f"; bazaar best {best:.1f} orders/s"
            )  # fmt: skip
    return {"rounds": rounds, "poll_cost": polls}


async def poll_cost(
    client: httpx.AsyncClient, shop: Shop, cpu: Callable[[], dict[str, float]], polls: int = 40
) -> dict[str, Any]:
    """What one ``GET /api/v1/orders/{id}`` costs the server (sequential, a completed order)."""
    response = await shop.place(client, 0)
    order_id = response.json()["id"]
    await settle_order(client, shop, 0, order_id, Estimate(0.2), time.time(), 60.0)
    headers = {"authorization": f"Bearer {shop.tokens[0]}"}
    before, began = cpu(), time.perf_counter()
    for _ in range(polls):
        (await client.get(f"/api/v1/orders/{order_id}", headers=headers)).raise_for_status()
    wall, after = time.perf_counter() - began, cpu()
    return {
        "wall_ms": wall * 1000 / polls,
        "cpu_ms": {group: (after[group] - before[group]) * 1000 / polls for group in after},
    }


def summarize(
    name: str, raw: dict[str, Any], counted: dict[str, Any], levels: list[int]
) -> dict[str, Any]:
    rounds = raw["rounds"]
    per_order = counted["commits_per_order"]
    reference_keys = list(rounds[0]["reference"])
    references = {k: spread([r["reference"][k] for r in rounds]) for k in reference_keys}
    ceiling = references["raw_commits_per_s"]["median"] / per_order
    by_level: dict[str, Any] = {}
    for position, level in enumerate(levels):
        runs = [r["levels"][position] for r in rounds]
        by_level[str(level)] = {
            key: spread([run[key] for run in runs])
            for key in ("orders_per_s", "p50_ms", "p99_ms", "post_p50_ms", "polls_per_order",
                        "poll_lag_p50_ms", "orders_in_window", "machine_busy", "other_busy")
        }  # fmt: skip
        for key in ("cpu_ms_per_order", "cpu_busy"):
            by_level[str(level)][key] = {
                group: spread([run[key][group] for run in runs]) for group in runs[0][key]
            }
        # Paired: each round's orders/s over that round's own ceiling.
        by_level[str(level)]["ratio_paired"] = spread(
            [
                run["orders_per_s"] / (r["reference"]["raw_commits_per_s"] / per_order)
                for run, r in zip(runs, rounds, strict=True)
            ]
        )
    best_level = max(levels, key=lambda lv: by_level[str(lv)]["orders_per_s"]["median"])
    best = by_level[str(best_level)]["orders_per_s"]["median"]
    result: dict[str, Any] = {
        "target": "P2" if name == "sqlite" else "P3",
        "commits": counted,
        "references": references,
        "ceiling_orders_per_s": ceiling,
        "levels": by_level,
        "best_level": best_level,
        "best_orders_per_s": best,
        "ratio": best / ceiling,
        "ratio_met": best / ceiling >= TARGET_RATIO,
    }
    if "pgbench_tps" in references:
        result["ratio_pgbench"] = best / references["pgbench_tps"]["median"]
        result["pgbench_ceiling_orders_per_s"] = references["pgbench_tps"]["median"] / per_order
    return result


def config_key(name: str, processes: int) -> str:
    return name if name == "sqlite" or processes == 2 else f"postgres_{processes}p"


async def run_config(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One configuration; for postgres, one result per API process count."""
    began = time.perf_counter()
    results: dict[str, Any] = {}
    if name == "sqlite":
        counted = await count_commits(workdir / "count", None, args.count_orders, worker=True)
        _print_counted(name, counted)
        with sqlite_system(workdir / "sqlite", args.reference_s, args.set) as system:
            note("sqlite: bazaar up --demo ready")
            raw = await measure(system, args)
        results[name] = summarize(name, raw, counted, args.levels)
        results[name].update(system=system.details, raw=raw)
    else:
        with PostgresServer() as pg:
            counting_url = await asyncio.to_thread(prepare_postgres, pg)
            await asyncio.to_thread(pgbench_init, pg, "pgbench", args.pgbench_scale)
            note("postgres: cluster up, bazaar migrated (bazaar db upgrade), pgbench initialized")
            counted = await count_commits(
                workdir / "count-pg", counting_url, args.count_orders, worker=False
            )
            _print_counted(name, counted)
            for processes in args.api_processes:
                with postgres_system(
                    workdir / f"pg{processes}",
                    pg,
                    processes,
                    args.reference_s,
                    args.pgbench_s,
                    args.set,
                ) as system:
                    note(f"postgres: PSP and bazaar api --workers {processes} ready")
                    raw = await measure(system, args)
                key = config_key(name, processes)
                results[key] = summarize(name, raw, counted, args.levels)
                results[key].update(system={**system.details, "postgres": _pg_version(pg)}, raw=raw)
    for result in results.values():
        result["wall_s"] = time.perf_counter() - began
    return results


def _print_counted(name: str, counted: dict[str, Any]) -> None:
    note(
        f"{name}: {counted['commits_per_order']:.2f} commits per order "
        f"({counted['sequential_wall_ms_per_order']:.0f} ms, "
        f"{counted['sequential_cpu_ms_per_order']:.0f} ms CPU per order in process, "
        "sequential)"
    )


def _pg_version(pg: PostgresServer) -> str:
    done = subprocess.run(
        [str(pg.bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


# --- output -----------------------------------------------------------------------------------


def print_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    for name, r in results.items():
        table = Table(
            title=f"{r['target']} checkout, {name}: {args.runs} rounds × {args.duration:g} s "
            "per level (median, min–max)"
        )
        for column in ("concurrency", "orders/s", "p50 ms to completed", "p99 ms",
                       "POST p50 ms", "÷ ceiling (paired)", "polls/order",
                       "CPU ms/order (busy cores)", "other load"):  # fmt: skip
            table.add_column(column, justify="right")
        for level, fig in r["levels"].items():
            ops = fig["orders_per_s"]
            table.add_row(
                level,
                f"{ops['median']:.1f} ({ops['min']:.1f}–{ops['max']:.1f})",
                f"{fig['p50_ms']['median']:,.0f}",
                f"{fig['p99_ms']['median']:,.0f}",
                f"{fig['post_p50_ms']['median']:,.0f}",
                f"{fig['ratio_paired']['median']:.3f}",
                f"{fig['polls_per_order']['median']:.1f}",
                " · ".join(
                    f"{group} {cpu['median']:.0f} ({fig['cpu_busy'][group]['median']:.2f})"
                    for group, cpu in fig["cpu_ms_per_order"].items()
                ),
                f"{fig['other_busy']['median']:.2f}",
            )
        console.print(table)
        refs = r["references"]
        raw = refs["raw_commits_per_s"]
        line = (
            f"{name}: {r['commits']['commits_per_order']:.2f} commits per order; raw "
            f"{raw['median']:,.0f} commits/s ({raw['min']:,.0f}–{raw['max']:,.0f}) → ceiling "
            f"{r['ceiling_orders_per_s']:.1f} orders/s; best {r['best_orders_per_s']:.1f} "
            f"orders/s (concurrency {r['best_level']}) = {r['ratio']:.3f} of the ceiling "
            f"(target ≥ {TARGET_RATIO}: {'met' if r['ratio_met'] else 'NOT met'})"
        )
        cost = r["raw"]["poll_cost"]["cpu_ms"]
        line += (
            "; one GET /orders/{id} costs "
            + ", ".join(f"{group} {ms:.1f}" for group, ms in cost.items())
            + " ms CPU"
        )
        if "pgbench_tps" in refs:
            line += (
                f"; pgbench {refs['pgbench_tps']['median']:,.0f} TPS → bazaar orders/s ÷ "
                f"pgbench TPS = {r['ratio_pgbench']:.4f}"
            )
        console.print(line)


def print_scaling(results: dict[str, Any]) -> None:
    found = scaling(results)
    if found is not None:
        console.print(
            f"P13 input: 1→2 API processes, best orders/s × {found['best_gain']:.2f}; by level "
            + ", ".join(f"{lv}: × {gain:.2f}" for lv, gain in found["by_level"].items())
        )


def plot(results: dict[str, Any], path: Path) -> None:
    """orders/s (median, min–max) against concurrency, one line per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, r in results.items():
        levels = [int(level) for level in r["levels"]]
        ops = [r["levels"][str(lv)]["orders_per_s"] for lv in levels]
        medians = [o["median"] for o in ops]
        errors = [[m - o["min"] for m, o in zip(medians, ops, strict=True)],
                  [o["max"] - m for m, o in zip(medians, ops, strict=True)]]  # fmt: skip
        label = f"{r['target']} {name}"
        line = left.errorbar(levels, medians, yerr=errors, marker="o", capsize=3, label=label)
        left.axhline(
            TARGET_RATIO * r["ceiling_orders_per_s"], linestyle="--", linewidth=1,
            color=line[0].get_color(), label=f"{label}: 40% of the commit ceiling",
        )  # fmt: skip
        for key, style in (("p50_ms", "-"), ("p99_ms", ":")):
            right.plot(
                levels, [r["levels"][str(lv)][key]["median"] for lv in levels], style,
                marker="o", color=line[0].get_color(), label=f"{label} {key[:3]}",
            )  # fmt: skip
    ticks = sorted({int(level) for r in results.values() for level in r["levels"]})
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.minorticks_off()
    left.set(yscale="log", xlabel="concurrent customers (closed loop)",
             ylabel="orders/s to completed", title="checkout throughput")  # fmt: skip
    right.set(yscale="log", xlabel="concurrent customers (closed loop)",
              ylabel="ms, POST to completed", title="time to completed")  # fmt: skip
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds per config")
    parser.add_argument(
        "--levels",
        default="1,4,16",
        help="concurrent customers (32 also works, but its ramp and drain alone take ~15 s "
        "per round at today's rates)",
    )
    parser.add_argument("--duration", type=float, default=3.0, help="measured s per level")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up s per level, once")
    parser.add_argument("--max-warmup", type=float, default=3.0, help="cap of a level's ramp")
    parser.add_argument("--poll-cost-gets", type=int, default=40, help="GETs timed once")
    parser.add_argument("--reference-s", type=float, default=1.0, help="raw commit loop s")
    parser.add_argument("--pgbench-s", type=int, default=2, help="pgbench run s")
    parser.add_argument("--pgbench-scale", type=int, default=1)
    parser.add_argument("--customers", type=int, default=4, help="accounts the loops share")
    parser.add_argument(
        "--products",
        type=int,
        default=0,
        help="products the loops buy (loop i buys product i mod N); 0: one per loop, so no "
        "two orders in flight share a stock row; 1: every order the same product (hot row)",
    )
    parser.add_argument("--count-orders", type=int, default=20, help="orders counted in process")
    parser.add_argument(
        "--api-processes",
        default="2",
        help="P3: bazaar api --workers; '1,2' also measures one process (P13's 1→2 gain)",
    )
    parser.add_argument("--order-timeout", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="2 rounds, levels 1,4; ~1 min")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a bazaar setting for the measured processes (repeatable), e.g. "
        "tracing.enabled=false: tracing's cost is the ratio of two runs",
    )
    parser.add_argument(
        "--tracing",
        type=int,
        default=0,
        metavar="PASSES",
        help="tracing's cost: PASSES passes over on / off / 1 %% sampled (rotated), each a "
        "whole run of --configs; reports CPU per order and orders/s per variant",
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; known: {', '.join(CONFIGS)}")
    if args.quick:
        args.runs, args.levels, args.duration, args.warmup = 2, "1,4", 1.0, 0.5
        args.count_orders, args.reference_s, args.pgbench_s, args.max_warmup = 5, 0.5, 1, 1.5
        args.poll_cost_gets, args.customers, args.count_orders = 10, 1, 3
    args.levels = sorted({int(level) for level in str(args.levels).split(",")})
    args.api_processes = sorted({int(n) for n in str(args.api_processes).split(",")})
    if args.tracing:
        measure_tracing(args)
        return
    output = args.output or (None if args.quick else RESULTS)
    plot_path = args.plot or (None if args.quick else PLOT)

    began = time.perf_counter()
    machine = machine_info()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bazaar-checkout-") as tmp:
        for name in args.configs:
            note(f"[bold]{name}[/]")
            results.update(asyncio.run(run_config(name, args, Path(tmp))))
    print_results(results, args)
    print_scaling(results)
    report = {
        "benchmark": "checkout",
        "target": "P2/P3: checkout orders/s (POST → completed) ≥ 40% of raw single-row "
        "commits/s ÷ commits per order (P2 aiosqlite; P3 asyncpg, 8 connections, also ÷ "
        "pgbench tpcb-like TPS)",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "versions": {**versions(), **{n: _version(n) for n in ("asyncpg", "httpx", "greenlet")}},
        "parameters": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
        "method": {
            "time_to_completed": "saga's last finished_at (server) - client time.time() "
            "before the POST",
            "orders_per_s": "orders completed inside the measured window ÷ window",
            "polling": "first GET at the level's running median time to completion, then "
            "after 20% of the order's age (10 ms–1 s)",
            "cpu": "user+system CPU of the server processes (/proc) over a level's whole run "
            "÷ the orders it placed; other_busy = machine busy cores − ours − the client's",
            "commits_per_order": "COMMITs of request + saga (incl. payments) + PSP webhooks, "
            "counted in process with a SQLAlchemy listener; simulator DB excluded",
        },
        "configs": results,
        "p13_scaling": scaling(results),
        "wall_s": time.perf_counter() - began,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        console.print(f"written to {output} ({report['wall_s']:.0f} s)")
    if plot_path is not None:
        plot(results, plot_path)
        console.print(f"plot: {plot_path}")
    else:
        console.print(f"done in {report['wall_s']:.0f} s")


def measure_tracing(args: argparse.Namespace) -> None:
    """Tracing's cost on checkout: each variant a whole run, variants rotated pass by pass.

    Reported per configuration and level: the server processes' CPU per order (the steadier
    figure: orders/s on two shared cores moves with everything else) and orders/s, each
    variant's median over the passes and its ratio to tracing off.
    """
    began = time.perf_counter()
    names = list(TRACING_VARIANTS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    base_settings = list(args.set)
    with tempfile.TemporaryDirectory(prefix="bazaar-checkout-") as tmp:
        for number in range(args.tracing):
            shift = number % len(names)
            for variant in names[shift:] + names[:shift]:
                args.set = [*base_settings, *TRACING_VARIANTS[variant]]
                note(f"[bold]pass {number + 1}/{args.tracing}: {variant}[/]")
                results: dict[str, Any] = {}
                for name in args.configs:
                    workdir = Path(tmp) / f"{number}-{names.index(variant)}"
                    results.update(asyncio.run(run_config(name, args, workdir)))
                runs[variant].append(results)
    args.set = base_settings
    summary: dict[str, Any] = {}
    table = Table(title="checkout, tracing's cost", title_justify="left")
    columns = ("config", "level", "variant", "CPU ms/order", "orders/s", "÷ off (CPU capacity)")
    for column in columns:
        table.add_column(column, justify="right" if column != "variant" else "left")
    for config in runs[names[0]][0]:
        for level in runs[names[0]][0][config]["levels"]:
            cells: dict[str, dict[str, float]] = {}
            for variant in names:
                levels = [r[config]["levels"][level] for r in runs[variant]]
                cpu = [sum(g["median"] for g in lv["cpu_ms_per_order"].values()) for lv in levels]
                rate = [lv["orders_per_s"]["median"] for lv in levels]
                cells[variant] = {
                    "cpu_ms_per_order": statistics.median(cpu),
                    "orders_per_s": statistics.median(rate),
                }
            off = cells["tracing off"]["cpu_ms_per_order"]
            for variant, cell in cells.items():
                cell["cpu_capacity_vs_off"] = off / cell["cpu_ms_per_order"]
                table.add_row(
                    config, level, variant, f"{cell['cpu_ms_per_order']:.0f}",
                    f"{cell['orders_per_s']:.1f}", f"{cell['cpu_capacity_vs_off']:.2f}",
                )  # fmt: skip
            summary.setdefault(config, {})[level] = cells
    console.print(table)
    output = args.output or (None if args.quick else TRACING_RESULTS)
    if output is not None:
        report = {
            "benchmark": "checkout_tracing",
            "target": "tracing on (the default) costs <= 10% of throughput against tracing off",
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "versions": versions(),
            "variants": {name: list(settings) for name, settings in TRACING_VARIANTS.items()},
            "passes": args.tracing,
            "summary": summary,
            "runs": runs,
            "wall_s": time.perf_counter() - began,
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        console.print(f"written to {output}")


def scaling(results: dict[str, Any]) -> dict[str, Any] | None:
    """P13's input: bazaar's 1→2 API process gain on P3 (orders/s, per level and best)."""
    one, two = results.get("postgres_1p"), results.get("postgres")
    if one is None or two is None:
        return None
    return {
        "best_gain": two["best_orders_per_s"] / one["best_orders_per_s"],
        "by_level": {
            level: two["levels"][level]["orders_per_s"]["median"]
            / one["levels"][level]["orders_per_s"]["median"]
            for level in two["levels"]
        },
        "note": "the bare Starlette reference's 1→2 gain is measured by the HTTP benchmarks",
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
