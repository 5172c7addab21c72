"""HTTP load generation for the benchmarks: ``wrk`` when it is installed, else raw asyncio.

Two interchangeable generators return the same :class:`LoadResult`:

* :func:`run_wrk` runs ``wrk -t<threads> -c<connections> -d<seconds> --latency`` and parses
  its report (Requests/sec, the 50% and 99% latency lines, non-2xx and socket errors).
* :func:`run_asyncio` is the fallback: N keep-alive HTTP/1.1 connections on raw asyncio
  streams (uvloop when installed), each sending one request at a time for a fixed duration,
  timing every request with ``perf_counter``. httpx is far too slow to load a server; this
  loop reaches several thousand requests per second on one core, which is still below what
  wrk reaches, so its ratios are less sharp: prefer wrk (``apt-get install wrk``).

Neither corrects for coordinated omission (a closed loop, like wrk): the figures are for
comparing two servers under the same generator, which is all the benchmarks use them for.

Run alone for a quick look::

    python bench/_loadgen.py http://127.0.0.1:8000/healthz -c 32 -d 3 [--asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "LoadGenError",
    "LoadResult",
    "parse_duration_ms",
    "parse_wrk_output",
    "percentile",
    "run_asyncio",
    "run_load",
    "run_wrk",
    "which_wrk",
    "wrk_version",
]


class LoadGenError(RuntimeError):
    """The load generator failed or its output could not be read."""


@dataclass(slots=True)
class LoadResult:
    """One load run against one URL."""

    generator: str
    url: str
    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- wrk -------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|ms|s|m|h)\s*$")
_RPS = re.compile(r"^Requests/sec:\s*([0-9.]+)", re.MULTILINE)
_PCT = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([0-9.]+\w+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_duration_ms(text: str) -> float:
    """wrk's ``812.00us`` / ``1.23ms`` / ``2.01s`` / ``1.00m`` as milliseconds."""
    match = _DURATION.match(text)
    if match is None:
        raise LoadGenError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> dict[str, Any]:
    """The figures of one ``wrk --latency`` report.

    Returns:
        ``requests_per_s``, ``p50_ms``, ``p75_ms``, ``p90_ms``, ``p99_ms``, ``requests``,
        ``elapsed_s``, ``non_2xx`` and ``socket_errors``.
    """
    rps = _RPS.search(text)
    if rps is None:
        raise LoadGenError(f"no Requests/sec in wrk output:\n{text}")
    percentiles = {int(p): parse_duration_ms(v) for p, v in _PCT.findall(text)}
    if 50 not in percentiles or 99 not in percentiles:
        raise LoadGenError(f"no latency distribution in wrk output (--latency?):\n{text}")
    total = _TOTAL.search(text)
    non_2xx = _NON_2XX.search(text)
    socket = _SOCKET.search(text)
    return {
        "requests_per_s": float(rps.group(1)),
        "p50_ms": percentiles[50],
        "p75_ms": percentiles.get(75),
        "p90_ms": percentiles.get(90),
        "p99_ms": percentiles[99],
        "requests": int(total.group(1)) if total else 0,
        "elapsed_s": parse_duration_ms(total.group(2)) / 1000 if total else math.nan,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }


def which_wrk() -> str | None:
    """The path of ``wrk`` on PATH, or None."""
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    """The first line of ``wrk --version`` (wrk prints it with its usage and exits 1)."""
    done = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else "unknown"


def run_wrk(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
    wrk: str | None = None,
) -> LoadResult:
    """One ``wrk`` run; bounded by a timeout a little past ``duration_s``."""
    wrk = wrk or which_wrk()
    if wrk is None:
        raise LoadGenError("wrk is not on PATH")
    seconds = max(1, math.ceil(duration_s))  # wrk takes whole seconds
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadGenError(f"wrk did not finish within {seconds + 30} s") from exc
    if done.returncode != 0:
        raise LoadGenError(f"wrk exited {done.returncode}: {done.stderr or done.stdout}")
    figures = parse_wrk_output(done.stdout)
    return LoadResult(
        generator="wrk",
        url=url,
        connections=connections,
        duration_s=figures["elapsed_s"],
        requests=figures["requests"],
        requests_per_s=figures["requests_per_s"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
        extra={
            "threads": threads,
            "p75_ms": figures["p75_ms"],
            "p90_ms": figures["p90_ms"],
        },
    )


# -- asyncio fallback -----------------------------------------------------------------------


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (``pct`` in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class _Tally:
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    socket_errors: int = 0


def _request_bytes(host: str, port: int, target: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = -1
    chunked = False
    keep_alive = True
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length > 0:
        await reader.readexactly(length)
    elif length < 0:
        keep_alive = False  # body delimited by close: read it and reconnect
        await reader.read()
    return status, keep_alive


async def _worker(host: str, port: int, request: bytes, deadline: float, tally: _Tally) -> None:
    perf = time.perf_counter
    latencies = tally.latencies
    writer: asyncio.StreamWriter | None = None
    try:
        while perf() < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = perf()
            try:
                writer.write(request)
                status, keep_alive = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                tally.socket_errors += 1
                writer.close()
                writer = None
                continue
            latencies.append(perf() - started)
            if not 200 <= status < 400:
                tally.non_2xx += 1
            if not keep_alive:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def _run_asyncio(
    url: str, connections: int, duration_s: float, headers: Mapping[str, str]
) -> LoadResult:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise LoadGenError(f"only plain http:// URLs are supported, not {url!r}")
    host, port = parts.hostname, parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    request = _request_bytes(host, port, target, headers)
    tallies = [_Tally() for _ in range(connections)]
    started = time.perf_counter()
    deadline = started + duration_s
    workers = [
        asyncio.create_task(_worker(host, port, request, deadline, tally)) for tally in tallies
    ]
    try:
        # Bounded: a worker stuck on a silent server is cancelled a little past the deadline.
        done, pending = await asyncio.wait(workers, timeout=duration_s + 10)
    finally:
        for task in workers:
            task.cancel()
    elapsed = time.perf_counter() - started
    for task in done:
        if task.exception() is not None:
            raise LoadGenError(f"load worker failed: {task.exception()!r}")
    latencies = sorted(x for tally in tallies for x in tally.latencies)
    return LoadResult(
        generator="asyncio",
        url=url,
        connections=connections,
        duration_s=elapsed,
        requests=len(latencies),
        requests_per_s=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        non_2xx=sum(t.non_2xx for t in tallies),
        socket_errors=sum(t.socket_errors for t in tallies) + len(pending),
        extra={
            "p75_ms": percentile(latencies, 75) * 1000,
            "p90_ms": percentile(latencies, 90) * 1000,
        },
    )


def run_asyncio(
    url: str,
    *,
    connections: int,
    duration_s: float,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """One fallback run: ``connections`` keep-alive connections for ``duration_s`` seconds."""
    coro = _run_asyncio(url, connections, duration_s, headers or {})
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def run_load(
    generator: str,
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Dispatch to ``wrk`` or ``asyncio`` by name."""
    if generator == "wrk":
        return run_wrk(
            url, connections=connections, duration_s=duration_s, threads=threads, headers=headers
        )
    if generator == "asyncio":
        return run_asyncio(url, connections=connections, duration_s=duration_s, headers=headers)
    raise LoadGenError(f"unknown load generator {generator!r}")


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=3.0)
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--asyncio", action="store_true", help="use the asyncio generator")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    generator = "asyncio" if args.asyncio or which_wrk() is None else "wrk"
    result = run_load(
        generator,
        args.url,
        connections=args.connections,
        duration_s=args.duration,
        headers=headers,
    )
    print(
        f"{result.generator}: {result.requests_per_s:,.0f} req/s  p50 {result.p50_ms:.2f} ms  "
        f"p99 {result.p99_ms:.2f} ms  ({result.requests} requests, {result.non_2xx} non-2xx, "
        f"{result.socket_errors} socket errors)"
    )


if __name__ == "__main__":
    _main()
