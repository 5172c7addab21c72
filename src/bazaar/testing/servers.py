"""Throwaway PostgreSQL and Redis servers on free loopback ports, from the installed binaries."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "KNOWN_ENGINES",
    "LOOPBACK",
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "find_free_port",
    "find_postgres_bin_dir",
    "find_redis_server",
    "required_engines",
]

LOOPBACK = "127.0.0.1"
KNOWN_ENGINES = frozenset({"postgres", "redis"})

_PG_SUPERUSER = "postgres"
# initdb and postgres refuse to run as root; this unprivileged account owns the cluster then.
_PG_OS_USER = "postgres"
_PG_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_PG_SETTINGS = {
    # Durability buys nothing for a cluster that is deleted at the end of the session.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
}
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOG_TAIL_LINES = 40


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the command output and log tail."""


def find_free_port() -> int:
    """Return a TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def find_postgres_bin_dir() -> Path | None:
    """Locate the directory holding initdb, pg_ctl and postgres, or None if not installed."""
    override = os.environ.get("BAZAAR_PG_BIN")
    if override:
        # An explicit setting wins even when wrong, so a bad path skips (or fails) loudly
        # instead of silently testing against some other installation.
        return _if_server_bin_dir(Path(override))

    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = _if_server_bin_dir(_pg_config_bindir(pg_config))
        if found is not None:
            return found

    versioned = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bin_dir in versioned:
        if _if_server_bin_dir(bin_dir) is not None:
            return bin_dir

    initdb = shutil.which("initdb")
    if initdb is not None:
        # Resolve symlinks such as /usr/local/bin/initdb so sibling tools (psql) are found too.
        return _if_server_bin_dir(Path(initdb).resolve().parent)
    return None


def find_redis_server() -> Path | None:
    """Locate redis-server via env BAZAAR_REDIS_SERVER, then PATH; None if not installed."""
    override = os.environ.get("BAZAAR_REDIS_SERVER")
    if override:
        path = Path(override)
        return path if _is_executable(path) else None
    found = shutil.which("redis-server")
    return Path(found) if found is not None else None


def required_engines() -> set[str]:
    """Engines named in env BAZAAR_TEST_REQUIRE (e.g. "postgres,redis") that must not be skipped."""
    raw = os.environ.get("BAZAAR_TEST_REQUIRE", "")
    engines = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = engines - KNOWN_ENGINES
    if unknown:
        # A typo here would otherwise turn a required engine back into a silent skip.
        raise ValueError(
            f"BAZAAR_TEST_REQUIRE names unknown engines {sorted(unknown)}; "
            f"known: {sorted(KNOWN_ENGINES)}"
        )
    return engines


class PostgresServer:
    """A private PostgreSQL cluster in a temp directory, listening on 127.0.0.1 only."""

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        port: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        found = bin_dir if bin_dir is not None else find_postgres_bin_dir()
        if found is None:
            raise FileNotFoundError(
                "PostgreSQL binaries not found (initdb); install postgresql or set BAZAAR_PG_BIN"
            )
        self.bin_dir = found
        self.port = port if port is not None else find_free_port()
        self.start_timeout = start_timeout
        self.base_dir: Path | None = None
        self._os_user: pwd.struct_passwd | None = None
        self._pg_ctl_start_ran = False

    @property
    def url(self) -> str:
        """SQLAlchemy async URL of the built-in ``postgres`` database."""
        return self.sqlalchemy_url(_PG_SUPERUSER)

    def sqlalchemy_url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://{_PG_SUPERUSER}@{LOOPBACK}:{self.port}/{dbname}"

    def dsn(self, dbname: str = _PG_SUPERUSER) -> str:
        """Plain libpq/asyncpg DSN, for tools that do not speak SQLAlchemy URLs."""
        return f"postgresql://{_PG_SUPERUSER}@{LOOPBACK}:{self.port}/{dbname}"

    @property
    def data_dir(self) -> Path:
        return self._require_base_dir() / "data"

    @property
    def log_file(self) -> Path:
        return self._require_base_dir() / "postgres.log"

    def start(self) -> Self:
        if self.base_dir is not None:
            raise RuntimeError("PostgresServer is already started")
        self._os_user = _unprivileged_pg_user()
        try:
            self.base_dir = _make_base_dir("bazaar-pg-", self._os_user)
            self._run_pg(
                "initdb",
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    _PG_SUPERUSER,
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                timeout=self.start_timeout,
            )
            settings = {
                **_PG_SETTINGS,
                "listen_addresses": LOOPBACK,
                "port": str(self.port),
                "unix_socket_directories": str(self.base_dir),
            }
            # pg_ctl hands -o to /bin/sh, hence the shell quoting.
            options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
            self._pg_ctl_start_ran = True
            self._run_pg(
                "pg_ctl start",
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "start",
                ],
                timeout=self.start_timeout + 30,
            )
        except BaseException:
            # Also on KeyboardInterrupt: pg_ctl detaches the postmaster, nobody else stops it.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server if it runs and delete its directory; safe to call repeatedly."""
        base_dir = self.base_dir
        if base_dir is None:
            return
        pid_file = self.data_dir / "postmaster.pid"
        try:
            if self._pg_ctl_start_ran and not pid_file.exists():
                # pg_ctl killed mid-start (Ctrl-C) may already have forked a detached postmaster
                # that writes its pid file a moment later; give it that moment, then stop it.
                _wait_until(pid_file.exists, timeout=2.0)
            if pid_file.exists() and not self._pg_ctl_stop("fast"):
                self._pg_ctl_stop("immediate")
        finally:
            self.base_dir = None
            self._pg_ctl_start_ran = False
            shutil.rmtree(base_dir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy async URL; callable from sync code."""
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"unsafe database name {name!r}; use letters, digits and underscores")
        psql = self.bin_dir / "psql"
        if not _is_executable(psql):
            psql = Path(shutil.which("psql") or psql)
        command = [
            str(psql),
            "-X",  # ignore ~/.psqlrc
            "-q",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            _PG_SUPERUSER,
            "-d",
            _PG_SUPERUSER,
            "-c",
            f'CREATE DATABASE "{name}"',
        ]
        env = {**_env_without_libpq_vars(), "PGCONNECT_TIMEOUT": "10"}
        result = _run(command, env=env, cwd=self._require_base_dir(), timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"creating database {name!r} failed:\n{result.stdout}")
        return self.sqlalchemy_url(name)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _require_base_dir(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("PostgresServer is not started")
        return self.base_dir

    def _run_pg(self, what: str, command: Sequence[str], *, timeout: float) -> None:
        try:
            result = _run(
                command,
                env=_env_without_libpq_vars(),
                cwd=self._require_base_dir(),
                timeout=timeout,
                as_user=self._os_user,
            )
        except subprocess.TimeoutExpired as error:
            raise ServerStartError(
                f"{what} timed out after {timeout:.0f}s on port {self.port}\n{self._log_tail()}"
            ) from error
        if result.returncode != 0:
            raise ServerStartError(
                f"{what} failed with exit code {result.returncode} on port {self.port}:\n"
                f"{result.stdout.strip()}\n{self._log_tail()}"
            )

    def _pg_ctl_stop(self, mode: str) -> bool:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w"]
        try:
            result = _run(
                [*command, "-t", "30", "stop"],
                env=_env_without_libpq_vars(),
                cwd=self._require_base_dir(),
                timeout=60,
                as_user=self._os_user,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def _log_tail(self) -> str:
        return _tail("postgres log", self.log_file)


class RedisServer:
    """A redis-server child process listening on 127.0.0.1 only.

    Without persistence by default. ``appendonly=True`` turns on the append-only file with
    ``appendfsync always``: every write the server acknowledged survives ``restart()``,
    as a production Redis configured for durability would (targets.md R8).
    """

    def __init__(
        self,
        executable: Path | None = None,
        *,
        port: int | None = None,
        start_timeout: float = 10.0,
        appendonly: bool = False,
    ) -> None:
        found = executable if executable is not None else find_redis_server()
        if found is None:
            raise FileNotFoundError(
                "redis-server not found; install redis-server or set BAZAAR_REDIS_SERVER"
            )
        self.executable = found
        self.port = port if port is not None else find_free_port()
        self.start_timeout = start_timeout
        self.appendonly = appendonly
        self.base_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("RedisServer is not started")
        return self.base_dir / "redis.log"

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError("RedisServer is already started")
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="bazaar-redis-"))
        try:
            self._spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self) -> None:
        """Stop and start again on the same port and directory.

        All data is lost, unless the server runs with ``appendonly=True``: then it comes
        back with every write it acknowledged before the stop.
        """
        self._terminate()
        self._spawn()

    def stop(self) -> None:
        """Terminate the server and delete its directory; safe to call repeatedly."""
        try:
            self._terminate()
        finally:
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                self.base_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self) -> None:
        command = [
            str(self.executable),
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            *(
                ("--appendonly", "yes", "--appendfsync", "always")
                if self.appendonly
                else ("--appendonly", "no")
            ),
            "--dir",
            str(self.log_file.parent),
            "--protected-mode",
            "no",
        ]
        with self.log_file.open("ab") as log:
            # Own session: the fixture finalizer, not a terminal's Ctrl-C, decides when it stops.
            self._process = subprocess.Popen(  # noqa: S603 - argv built from a located binary
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_file.parent,
                start_new_session=True,
            )
        self._wait_until_ready(self._process)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"redis-server exited with code {process.returncode} on port {self.port}\n"
                    f"{_tail('redis log', self.log_file)}"
                )
            if _answers_ping(self.port):
                return
            time.sleep(0.05)
        raise ServerStartError(
            f"redis-server did not answer PING within {self.start_timeout:.0f}s on port "
            f"{self.port}\n{_tail('redis log', self.log_file)}"
        )

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            process.terminate()
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            self._process = None


def _run(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    as_user: pwd.struct_passwd | None = None,
) -> subprocess.CompletedProcess[str]:
    # Switching user in the forked child (rather than via runuser/su) means the process we time
    # out or interrupt is initdb/pg_ctl itself, so killing it cannot leave an orphan behind.
    return subprocess.run(  # noqa: S603 - argv built from located binaries, no shell
        list(command),
        env=env,
        cwd=cwd,
        user=None if as_user is None else as_user.pw_uid,
        group=None if as_user is None else as_user.pw_gid,
        extra_groups=None if as_user is None else [],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def _wait_until(condition: Callable[[], bool], *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _if_server_bin_dir(bin_dir: Path | None) -> Path | None:
    if bin_dir is None:
        return None
    return bin_dir if all(_is_executable(bin_dir / name) for name in _PG_SERVER_BINARIES) else None


def _pg_config_bindir(pg_config: str) -> Path | None:
    try:
        result = subprocess.run(  # noqa: S603 - pg_config found on PATH, no shell
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    bindir = result.stdout.strip()
    return Path(bindir) if result.returncode == 0 and bindir else None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def _unprivileged_pg_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as when we are root; None means run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_PG_OS_USER)
    except KeyError:
        raise ServerStartError(
            f"running as root, but PostgreSQL refuses root and there is no {_PG_OS_USER!r} "
            "OS user to run it as; install postgresql or run the tests unprivileged"
        ) from None


def _make_base_dir(prefix: str, owner: pwd.struct_passwd | None) -> Path:
    root = Path(tempfile.gettempdir()).resolve()
    if owner is not None and not all(
        p.stat().st_mode & stat.S_IXOTH for p in (root, *root.parents)
    ):
        raise ServerStartError(
            f"temp dir {root} is not reachable by OS user {owner.pw_name!r}; "
            "point TMPDIR at a world-traversable directory such as /tmp"
        )
    base_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    if owner is not None:
        os.chown(base_dir, owner.pw_uid, owner.pw_gid)
    return base_dir


def _env_without_libpq_vars() -> dict[str, str]:
    # PGHOST, PGPORT, PGDATA, PGOPTIONS... from the developer's shell must not redirect our tools.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _tail(label: str, path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
    except OSError:
        return f"--- {label}: {path} not readable ---"
    return f"--- {label} tail ({path}) ---\n" + "\n".join(lines)
