"""Benchmark: bazaar's HTTP baseline against a bare Starlette app on the same server settings.

Two endpoint pairs, each measured alternately in the same run (targets.md's method):

* ``GET /healthz`` on ``bazaar up`` (FastAPI, the full middleware stack) against
  ``GET /healthz`` on ``bench/reference_app.py`` (bare Starlette, ``{"status": "ok"}``);
* an authenticated ``GET /api/v1/me`` (bearer JWT, one database read) against
  ``GET /me`` on the reference (a fixed JSON object of about the same size).

Both servers run as real processes on 127.0.0.1 with one uvicorn process each and the same
server settings (lifespan on, no access log, no server header, no proxy headers). The
reference runs the event loop and HTTP parser the bazaar process is seen to have loaded
(``/proc/<pid>/maps``): ``bazaar up`` serves inside its own ``asyncio.run()``, so uvicorn's
``loop="auto"`` never applies and today that is the stdlib loop, not uvloop.
``--uvloop-reference`` adds the reference on uvloop as a third server, to show that gap.

The load generator is ``wrk -t1 -c32 --latency`` when ``wrk`` is on PATH, else the
raw-asyncio generator in ``bench/_loadgen.py``. The machine has two cores shared by the
generator and the server under load, so absolute figures mean little: the ratios
(bazaar ÷ reference, same run, medians of alternating runs) are the result.

This is the reference P1 of ``shared/spec/targets.md`` builds on (P1 itself measures
``GET /api/v1/products/{id}``, a later issue). Run::

    python bench/http_baseline.py            # 5 runs x 3 s per server and endpoint (~75 s)
    python bench/http_baseline.py --uvloop-reference   # plus the reference on uvloop
    python bench/http_baseline.py --quick    # smoke run; does not overwrite the results

Writes ``bench/results/http_baseline.json`` (machine, versions, parameters, every run's
figures, medians/min/max and the ratios).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.metadata
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

# bench/ is not a package: import the sibling helper module by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loadgen import (
    LoadGenError,
    LoadResult,
    run_load,
    which_wrk,
    wrk_version,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "http_baseline.json"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# The P1 bar of targets.md, shown for orientation (it applies to the product read path).
P1_MIN_RPS_RATIO = 0.5
P1_MAX_P99_RATIO = 3.0

BENCH_TENANT = "bench-tenant"
BENCH_EMAIL = "bench-admin@example.com"
BENCH_PASSWORD = "bench-password-0123456789"  # only ever sent to a throwaway local server

# Wide enough for the table when the output is a file or a pipe (rich assumes 80 columns).
console = Console() if sys.stdout.isatty() else Console(width=150)


class BenchError(RuntimeError):
    """The benchmark could not run or its figures are not valid."""


# -- server processes -------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel says is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass(slots=True)
class Server:
    """A server process under test, its port and log file."""

    name: str
    command: list[str]
    port: int
    ready_path: str
    workdir: Path
    # uvicorn's CLI re-raises the SIGTERM it handled (status -15); bazaar exits 0.
    clean_exits: tuple[int, ...] = (0,)
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,  # no stray bazaar.toml from the caller's directory
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops us
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Poll ``ready_path`` until 200; return the seconds it took."""
        started = time.perf_counter()
        deadline = started + timeout_s
        url = self.base_url + self.ready_path
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.perf_counter() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise BenchError(f"{self.name} exited before it was ready:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        self.ready = True
                        return time.perf_counter() - started
                time.sleep(0.1)
        raise BenchError(f"{self.name} not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``; return the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]{self.name} ignored SIGTERM; killing it[/]")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        return process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def bazaar_server(workdir: Path, name: str = "bazaar", settings: Sequence[str] = ()) -> Server:
    """``bazaar up --demo`` on ``workdir/data``, with more ``--set`` ``settings``.

    Several servers on one ``workdir`` share the database and the signing keys, so one
    customer token reads through any of them.
    """
    port = free_port()
    extra = [argument for setting in settings for argument in ("--set", setting)]
    command = [
        sys.executable, "-m", "bazaar", "up", "--demo",
        "--port", str(port),
        "--data-dir", str(workdir / "data"),
        *extra,
        "--set", f"host={HOST}",
        "--set", "log_level=warning",
        "--set", "auth.access_token_ttl_s=3600",  # no expiry mid-benchmark
        # One client at thousands of requests/s is exactly what the default policy refuses;
        # the limiter's own cost (a few µs in process) is measured in ratelimit_vs_limits.
        "--set", "rate_limits.default=off",
    ]  # fmt: skip
    return Server(name, command, port, "/readyz", workdir)


def reference_server(workdir: Path, name: str, loop: str, http: str) -> Server:
    port = free_port()
    # The settings bazaar's own uvicorn.Config uses (bazaar/cli/serve.py), as CLI flags.
    command = [
        sys.executable, "-m", "uvicorn", "reference_app:app",
        "--app-dir", str(BENCH_DIR),
        "--host", HOST,
        "--port", str(port),
        "--loop", loop,
        "--http", http,
        "--lifespan", "on",
        "--no-access-log",
        "--no-server-header",
        "--no-proxy-headers",
        "--log-level", "warning",
    ]  # fmt: skip
    return Server(name, command, port, "/healthz", workdir, (0, -signal.SIGTERM))


def loaded_impls(pid: int) -> dict[str, str] | None:
    """The event loop and HTTP parser a running server has loaded, from /proc/<pid>/maps.

    uvicorn's ``loop="auto"`` only applies when uvicorn creates the loop (``Server.run``);
    ``bazaar up`` runs ``Server.serve()`` inside its own ``asyncio.run()``, so what it really
    runs on has to be observed, not assumed. uvloop's extension not being mapped into the
    process means the loop is not uvloop; the same holds for httptools' parser.
    """
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    return {
        "loop": "uvloop" if "/uvloop/loop." in maps else "asyncio",
        "http": "httptools" if "/httptools/parser/" in maps else "h11",
    }


def start_ready(server: Server, stack: contextlib.ExitStack) -> None:
    """Start ``server``, arrange its stop on ``stack``, and wait until it answers."""
    stack.callback(_stop, server)
    server.start()
    took = server.wait_ready()
    console.print(f"{server.name} ready on {server.base_url} in {took:.2f} s")


def _stop(server: Server) -> None:
    status = server.stop()
    # A server stopped while still starting has no signal handler yet: -15 is expected then.
    if server.ready and status is not None and status not in server.clean_exits:
        console.print(f"[yellow]{server.name} exited with status {status}:[/]")
        console.print(server.log_tail(10), markup=False)


# -- identity setup ----------------------------------------------------------------------------


@dataclass(slots=True)
class MeProbe:
    """What the benchmark learned about ``/me`` before loading it."""

    available: bool
    reason: str = ""
    token: str = ""
    bazaar_body_bytes: int = 0
    reference_body_bytes: int = 0


def prepare_me(bazaar: Server, reference: Server) -> MeProbe:
    """Create a tenant, log its admin in, check ``/me`` answers 200 on both servers."""
    with httpx.Client(base_url=bazaar.base_url, timeout=10.0, trust_env=False) as client:
        created = client.post(
            "/api/v1/tenants",
            json={
                "name": BENCH_TENANT,
                "admin_email": BENCH_EMAIL,
                "admin_password": BENCH_PASSWORD,
            },
        )
        if created.status_code in (404, 405):
            return MeProbe(False, "bazaar serves no POST /api/v1/tenants yet (identity API)")
        if created.status_code != 201:
            raise BenchError(f"POST /api/v1/tenants → {created.status_code}: {created.text}")
        tenant_id = created.json()["id"]
        login = client.post(
            "/api/v1/auth/login",
            json={"tenant_id": tenant_id, "email": BENCH_EMAIL, "password": BENCH_PASSWORD},
        )
        if login.status_code != 200:
            raise BenchError(f"POST /api/v1/auth/login → {login.status_code}: {login.text}")
        token = login.json()["access_token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        if me.status_code != 200:
            raise BenchError(f"GET /api/v1/me → {me.status_code}: {me.text}")
    ref = httpx.get(reference.base_url + "/me", timeout=10.0, trust_env=False)
    ref.raise_for_status()
    return MeProbe(True, "", token, len(me.content), len(ref.content))


# -- measuring -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Side:
    """One server's half of a pair: where to send the requests and what came back."""

    label: str
    server: Server
    path: str
    runs: list[LoadResult] = field(default_factory=list)


@dataclass(slots=True)
class Pair:
    """One endpoint measured on bazaar (first side) and the reference(s)."""

    name: str
    sides: list[Side]
    headers: dict[str, str] = field(default_factory=dict)


def _check(result: LoadResult, label: str) -> None:
    if result.requests == 0:
        raise BenchError(f"{label}: no request completed")
    if result.non_2xx or result.socket_errors:
        raise BenchError(
            f"{label}: {result.non_2xx} non-2xx answers and {result.socket_errors} socket "
            "errors; the figures would not be comparable"
        )


_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far, all its threads (Linux only).

    Throughput over HTTP on two shared cores moves ±20 % from run to run; the server's CPU
    per request does not move with what else the machine does, and on a CPU-bound server
    its inverse is the throughput the server could reach. Both are reported.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name, which is in parentheses and may contain spaces:
    # utime and stime are the 14th and 15th fields of the whole line.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S


def measure_pair(pair: Pair, args: argparse.Namespace, generator: str) -> None:
    """Warm every side up, then alternate: bazaar, reference, bazaar, reference, ..."""

    def load(side: Side, seconds: float) -> LoadResult:
        pid = side.server.process.pid if side.server.process is not None else None
        cpu_before = process_cpu_s(pid) if pid is not None else None
        result = run_load(
            generator,
            side.server.base_url + side.path,
            connections=args.connections,
            duration_s=seconds,
            threads=args.threads,
            headers=pair.headers,
        )
        cpu_after = process_cpu_s(pid) if pid is not None else None
        if cpu_before is not None and cpu_after is not None and result.requests:
            result.extra["server_cpu_s"] = round(cpu_after - cpu_before, 3)
            result.extra["server_cpu_us_per_request"] = round(
                (cpu_after - cpu_before) / result.requests * 1e6, 1
            )
        return result

    if args.warmup > 0:
        for side in pair.sides:
            _check(load(side, args.warmup), f"{side.label} {side.path} warm-up")
    for run in range(1, args.runs + 1):
        for side in pair.sides:
            result = load(side, args.duration)
            _check(result, f"{side.label} {side.path} run {run}")
            side.runs.append(result)
            cpu = result.extra.get("server_cpu_us_per_request")
            console.print(
                f"  {pair.name:<8} run {run}/{args.runs} {side.label:<17} "
                f"{result.requests_per_s:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                f"p99 {result.p99_ms:6.2f} ms"
                + (f"  server CPU {cpu:,.0f} µs/req" if cpu is not None else "")
            )
            time.sleep(args.pause)


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _cpu_per_request(side: Side) -> list[float]:
    return [
        float(r.extra["server_cpu_us_per_request"])
        for r in side.runs
        if "server_cpu_us_per_request" in r.extra
    ]


def _ratios(subject: Side, reference: Side, stats: Mapping[str, Any]) -> dict[str, float]:
    s, r = stats[subject.label], stats[reference.label]
    paired = [
        (a.requests_per_s / b.requests_per_s, a.p99_ms / b.p99_ms)
        for a, b in zip(subject.runs, reference.runs, strict=True)
    ]
    ratios = {
        "requests_per_s": s["requests_per_s"]["median"] / r["requests_per_s"]["median"],
        "p50": s["p50_ms"]["median"] / r["p50_ms"]["median"],
        "p99": s["p99_ms"]["median"] / r["p99_ms"]["median"],
        "paired_median_requests_per_s": statistics.median(p[0] for p in paired),
        "paired_median_p99": statistics.median(p[1] for p in paired),
    }
    if "server_cpu_us_per_request" in s and "server_cpu_us_per_request" in r:
        # The throughput a CPU-bound server could reach goes as 1 / CPU per request.
        ratios["cpu_capacity"] = (
            r["server_cpu_us_per_request"]["median"] / s["server_cpu_us_per_request"]["median"]
        )
    return ratios


def summarize(pair: Pair) -> dict[str, Any]:
    """Medians, extremes and ratios (bazaar ÷ each reference) of one pair's runs."""
    stats: dict[str, dict[str, Any]] = {
        side.label: {
            "path": side.path,
            "requests_per_s": _stats([r.requests_per_s for r in side.runs]),
            "p50_ms": _stats([r.p50_ms for r in side.runs]),
            "p99_ms": _stats([r.p99_ms for r in side.runs]),
        }
        for side in pair.sides
    }
    for side in pair.sides:
        if cpu := _cpu_per_request(side):
            stats[side.label]["server_cpu_us_per_request"] = _stats(cpu)
    subject, *references = pair.sides
    ratios = {ref.label: _ratios(subject, ref, stats) for ref in references}
    summary: dict[str, Any] = {
        "authenticated": bool(pair.headers),
        "servers": stats,
        "ratios_by_reference": ratios,
        "runs": {side.label: [_raw(r) for r in side.runs] for side in pair.sides},
    }
    main = ratios.get("reference")  # a pair of bazaar variants has no bare reference
    if main is not None:
        summary["ratios"] = main
        summary["p1_bar"] = {
            "min_requests_per_s_ratio": P1_MIN_RPS_RATIO,
            "max_p99_ratio": P1_MAX_P99_RATIO,
            "meets": main["requests_per_s"] >= P1_MIN_RPS_RATIO and main["p99"] <= P1_MAX_P99_RATIO,
        }
    return summary


def _raw(result: LoadResult) -> dict[str, Any]:
    raw = result.as_dict()
    raw.pop("url")
    return raw


def render(summary: Mapping[str, Mapping[str, Any]], title: str) -> Table:
    def cell(stats: Mapping[str, float], fmt: str) -> str:
        return f"{stats['median']:{fmt}} [dim]({stats['min']:{fmt}}–{stats['max']:{fmt}})[/]"

    table = Table(title=title, title_justify="left")
    table.add_column("endpoint")
    table.add_column("server")
    table.add_column("path")
    table.add_column("req/s median (min–max)", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("server CPU µs/req", justify="right")
    table.add_column("bazaar÷ref req/s", justify="right")
    table.add_column("bazaar÷ref p99", justify="right")
    table.add_column("bazaar÷ref CPU capacity", justify="right")
    for name, row in summary.items():
        servers = row["servers"]
        for i, (label, stats) in enumerate(servers.items()):
            ratios = row["ratios_by_reference"].get(label)
            table.add_row(
                name if i == 0 else "",
                label,
                stats["path"],
                cell(stats["requests_per_s"], ",.0f"),
                cell(stats["p50_ms"], ".2f"),
                cell(stats["p99_ms"], ".2f"),
                cell(stats["server_cpu_us_per_request"], ",.0f")
                if "server_cpu_us_per_request" in stats
                else "",
                f"{ratios['requests_per_s']:.2f}" if ratios else "",
                f"{ratios['p99']:.2f}×" if ratios else "",
                f"{ratios['cpu_capacity']:.2f}" if ratios and "cpu_capacity" in ratios else "",
                end_section=i == len(servers) - 1,
            )
    return table


# -- machine and versions ---------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": list(os.getloadavg()),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def versions() -> dict[str, Any]:
    packages = ("bazaar", "uvicorn", "fastapi", "starlette", "pydantic", "orjson", "uvloop",
                "httptools", "pyjwt", "sqlalchemy", "aiosqlite")  # fmt: skip
    found = {name: _version(name) for name in packages}
    found["git_commit"] = _git_commit()
    return found


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="bazaar /healthz and /me against a bare Starlette app, same run."
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per server and endpoint")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per server")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between runs")
    parser.add_argument(
        "--endpoints", default="healthz,me", help="comma-separated subset of: healthz,me"
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="wrk if on PATH (auto), or the asyncio fallback in bench/_loadgen.py",
    )
    parser.add_argument(
        "--reference-loop",
        choices=("match", "auto", "asyncio", "uvloop"),
        default="match",
        help="the reference's event loop: 'match' uses what the bazaar process has loaded",
    )
    parser.add_argument(
        "--uvloop-reference",
        action="store_true",
        help="also measure the reference on uvloop (a third server; +50%% run time)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (2 runs x 1 s); writes no results unless --output is given",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 2, 1.0, 1.0
    if not 1 <= args.runs <= 50 or not 0.5 <= args.duration <= 60:
        parser.error("--runs must be 1..50 and --duration 0.5..60 s (bounded benchmark)")
    if not 1 <= args.connections <= 1024 or not 0 <= args.warmup <= 30:
        parser.error("--connections must be 1..1024 and --warmup 0..30 s")
    args.endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = set(args.endpoints) - {"healthz", "me"}
    if unknown or not args.endpoints:
        parser.error(f"unknown endpoints {sorted(unknown)}; choose from healthz, me")
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def pin_apart(servers: Sequence[Server]) -> dict[str, list[int]] | None:
    """Servers on the last CPU, this process (and so the load generator it starts) on the
    others; None where there is nothing to split (one CPU, or no affinity API).

    On two cores, the server and wrk otherwise take turns on both, and a run's figures
    move with how the scheduler interleaved them (±15 % between identical runs); pinned,
    each has a core of its own. Every side of a comparison is pinned alike.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    server_cpus, generator_cpus = {cpus[-1]}, set(cpus[:-1])
    for server in servers:
        if server.process is None:
            continue
        # Every thread the server has so far; threads it starts later inherit the mask.
        for task in Path(f"/proc/{server.process.pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(task.name), server_cpus)
    os.sched_setaffinity(0, generator_cpus)
    return {"servers": sorted(server_cpus), "load_generator": sorted(generator_cpus)}


def choose_generator(requested: str) -> tuple[str, dict[str, Any]]:
    wrk = which_wrk()
    if requested == "wrk" and wrk is None:
        raise BenchError("--loadgen wrk, but wrk is not on PATH (apt-get install wrk)")
    if requested == "wrk" or (requested == "auto" and wrk is not None):
        assert wrk is not None
        return "wrk", {"name": "wrk", "path": wrk, "version": wrk_version(wrk)}
    if wrk is None:
        console.print("[yellow]wrk not on PATH: using the asyncio load generator[/]")
    return "asyncio", {
        "name": "asyncio",
        "note": "bench/_loadgen.py: raw asyncio streams in the benchmark process",
    }


@dataclass(slots=True)
class Outcome:
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    me_probe: MeProbe | None = None
    impls: dict[str, Any] = field(default_factory=dict)


def run_benchmark(args: argparse.Namespace, generator: str, workdir: Path) -> Outcome:
    """Start the servers, measure every pair, stop the servers (always)."""
    outcome = Outcome()
    with contextlib.ExitStack() as stack:
        bazaar = bazaar_server(workdir)
        start_ready(bazaar, stack)
        assert bazaar.process is not None
        seen = loaded_impls(bazaar.process.pid)
        outcome.impls["bazaar"] = seen
        if args.reference_loop == "match":
            if seen is None:
                console.print("[yellow]cannot see bazaar's loop (/proc); reference uses auto[/]")
            loop, http = (seen["loop"], seen["http"]) if seen else ("auto", "auto")
        else:
            loop, http = args.reference_loop, seen["http"] if seen else "auto"
        references = [reference_server(workdir, "reference", loop, http)]
        if args.uvloop_reference:
            references.append(reference_server(workdir, "reference-uvloop", "uvloop", http))
        for ref in references:
            start_ready(ref, stack)
            assert ref.process is not None
            outcome.impls[ref.name] = loaded_impls(ref.process.pid)
        console.print(f"event loop / http parser in use: {outcome.impls}")

        pairs: list[Pair] = []
        if "healthz" in args.endpoints:
            sides = [Side("bazaar", bazaar, "/healthz")]
            sides += [Side(ref.name, ref, "/healthz") for ref in references]
            pairs.append(Pair("healthz", sides))
        if "me" in args.endpoints:
            probe = prepare_me(bazaar, references[0])
            outcome.me_probe = probe
            if probe.available:
                sides = [Side("bazaar", bazaar, "/api/v1/me")]
                sides += [Side(ref.name, ref, "/me") for ref in references]
                # Every side gets the same request bytes; the reference ignores the token.
                pairs.append(Pair("me", sides, {"Authorization": f"Bearer {probe.token}"}))
            else:
                outcome.skipped["me"] = probe.reason
                console.print(f"[yellow]skipping /me: {probe.reason}[/]")
        for pair in pairs:
            measure_pair(pair, args, generator)
            outcome.summary[pair.name] = summarize(pair)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both unwind through the ExitStack that stops the servers (SIGINT is
    # set explicitly: a shell starts background jobs with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        generator, loadgen_info = choose_generator(args.loadgen)
    except BenchError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    loadgen_info |= {"connections": args.connections, "threads": args.threads}
    console.print(
        f"load generator: {generator} ({loadgen_info.get('path', 'bench/_loadgen.py')}); "
        f"{args.runs} runs x {args.duration:g} s per server and endpoint, "
        f"{args.connections} connections"
    )
    started = time.perf_counter()
    machine = machine_info()
    try:
        with tempfile.TemporaryDirectory(prefix="bazaar-bench-") as tmp:
            outcome = run_benchmark(args, generator, Path(tmp))
    except KeyboardInterrupt:
        console.print("[red]interrupted; servers stopped[/]")
        return 130
    except (BenchError, LoadGenError) as exc:
        console.print("[red]benchmark failed:[/]")
        console.print(str(exc), markup=False)
        return 1
    elapsed = time.perf_counter() - started
    machine["load_average_at_end"] = list(os.getloadavg())

    recorded_at = datetime.now(UTC).isoformat(timespec="seconds")
    if outcome.summary:
        console.print(render(outcome.summary, f"http_baseline — {recorded_at}, {generator}"))
    for name, reason in outcome.skipped.items():
        console.print(f"[yellow]{name}: not measured ({reason})[/]")
    console.print(f"total {elapsed:.0f} s; ratios are bazaar ÷ reference of the medians")

    probe = outcome.me_probe
    report = {
        "benchmark": "http_baseline",
        "recorded_at": recorded_at,
        "machine": machine,
        "versions": versions(),
        "load_generator": loadgen_info,
        "method": {
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "warmup_seconds_per_server": args.warmup,
            "connections": args.connections,
            "order": "per endpoint: warm up each server, then bazaar, reference, bazaar, "
            "reference, ...",
            "statistic": "median of runs, min and max; ratios are bazaar ÷ reference of the "
            "medians (medians of per-run paired ratios also given)",
            "server_settings": "one uvicorn process each on 127.0.0.1, lifespan on, no access "
            "log, no server header, no proxy headers; the reference runs the event loop and "
            "HTTP parser observed in the bazaar process",
            "event_loop_and_http_observed": outcome.impls,
            "bazaar_command": "python -m bazaar up --demo --set log_level=warning "
            "--set auth.access_token_ttl_s=3600",
            "reference": "bench/reference_app.py (bare Starlette, JSONResponse)",
            "total_seconds": round(elapsed, 1),
        },
        "me_body_bytes": (
            {"bazaar": probe.bazaar_body_bytes, "reference": probe.reference_body_bytes}
            if probe and probe.available
            else None
        ),
        "skipped": outcome.skipped,
        "results": outcome.summary,
    }
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.output}")
    else:
        console.print("[dim]--quick: results not written (pass --output to keep them)[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
