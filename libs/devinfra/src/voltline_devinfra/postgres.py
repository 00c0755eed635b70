"""A throwaway PostgreSQL server for tests, from the distribution's own binaries.

Tests need real PostgreSQL semantics (locking, JSONB, ON CONFLICT) that SQLite only
imitates, but a system-wide server is shared state; each :class:`PostgresServer` is a
private cluster in a temp dir on a free loopback port, tuned for speed over durability.
PostgreSQL refuses to run as root, so under root it runs as the system user
``voltline-pg`` (created on demand).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from voltline_devinfra import _proc
from voltline_devinfra._proc import ServerError
from voltline_devinfra._server import LocalServer
from voltline_devinfra._system import apt_install, is_root

PG_USER = "postgres"  # the superuser created by initdb
RUN_AS = "voltline-pg"  # the OS user the server runs as when we are root
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_T = TypeVar("_T")

# Durability off: a test cluster is thrown away, and fsync dominates test run time.
_FAST_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
}


def find_pg_bindir() -> Path | None:
    """Directory with initdb/postgres: $VOLTLINE_PG_BINDIR, Debian's newest, then PATH."""
    override = os.environ.get("VOLTLINE_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def ensure_postgres_binaries() -> Path:
    """Return the PostgreSQL bin dir, installing Debian's ``postgresql`` if absent (root only)."""
    bindir = find_pg_bindir()
    if bindir is None:
        apt_install("postgresql")
        bindir = find_pg_bindir()
    if bindir is None or not (bindir / "initdb").is_file() or not (bindir / "postgres").is_file():
        raise ServerError(f"PostgreSQL binaries (initdb, postgres) not found in {bindir}")
    return bindir


def _run_as_ids() -> tuple[int, int] | None:
    """(uid, gid) to drop to when root, creating the ``voltline-pg`` system user if needed."""
    if not is_root():
        return None
    try:
        entry = pwd.getpwnam(RUN_AS)
    except KeyError:
        # A concurrent creator may win the race; the lookup below is what counts.
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
            capture_output=True,
            check=False,
        )
        try:
            entry = pwd.getpwnam(RUN_AS)
        except KeyError as exc:
            raise ServerError(f"could not create system user {RUN_AS!r} to run PostgreSQL as") from exc
    return entry.pw_uid, entry.pw_gid


def _run_coro(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""

    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _quote_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"unsafe database name {name!r}: use letters, digits, _ $ - (max 63)")
    return '"' + name + '"'


class _DatabaseAdmin:
    """Create/drop databases on a server; subclasses say where the server is."""

    def admin_dsn(self) -> str:
        """libpq URL of a maintenance database to run CREATE/DROP DATABASE from."""
        raise NotImplementedError

    def url(self, name: str = "postgres") -> str:
        """SQLAlchemy async URL (``postgresql+asyncpg://...``) of database ``name``."""
        raise NotImplementedError

    async def acreate_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy async URL."""
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn(), timeout=30)
        try:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
        finally:
            await conn.close()
        return self.url(name)

    async def adrop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn(), timeout=30)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    def create_database(self, name: str) -> str:
        """Sync :meth:`acreate_database`; safe to call while an event loop is running."""
        return _run_coro(lambda: self.acreate_database(name))

    def drop_database(self, name: str) -> None:
        """Sync :meth:`adrop_database`."""
        _run_coro(lambda: self.adrop_database(name))


class ExternalPostgres(_DatabaseAdmin):
    """An already-running server given by URL (e.g. ``VOLTLINE_TEST_POSTGRES_DSN`` in CI)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if not parts.scheme.startswith("postgres"):
            raise ValueError(f"not a PostgreSQL URL: {base_url!r}")
        self._parts = parts

    def _with(self, scheme: str, database: str) -> str:
        return urlunsplit((scheme, self._parts.netloc, f"/{database}", self._parts.query, ""))

    def admin_dsn(self) -> str:
        return self._with("postgresql", self._parts.path.lstrip("/") or "postgres")

    def url(self, name: str = "postgres") -> str:
        return self._with("postgresql+asyncpg", name)

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


class PostgresServer(LocalServer, _DatabaseAdmin):
    """A private PostgreSQL cluster on ``127.0.0.1:<free port>``, trust auth, user ``postgres``."""

    kind = "postgres"
    _dir_prefix = "voltline-pg-"

    def __init__(
        self,
        *,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self._settings = {**_FAST_SETTINGS, **(settings or {})}
        self._ids: tuple[int, int] | None = None
        self._bindir: Path | None = None

    def admin_dsn(self) -> str:
        return f"postgresql://{PG_USER}@{self.host}:{self.port}/postgres"

    def url(self, name: str = "postgres") -> str:
        return f"postgresql+asyncpg://{PG_USER}@{self.host}:{self.port}/{name}"

    # -- LocalServer hooks -----------------------------------------------------------
    def _prepare(self) -> None:
        self._bindir = ensure_postgres_binaries()
        self._ids = _run_as_ids()

    def _setup(self) -> None:
        """initdb into the work dir, owned by the unprivileged user when we are root."""
        (self.work_dir / "sock").mkdir()
        self.log_path.touch()
        if self._ids is not None:
            for path in (self.work_dir, self.work_dir / "sock", self.log_path):
                os.chown(path, *self._ids)
        self._initdb()

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """Fast shutdown (SIGINT: roll back sessions, checkpoint, exit), then SIGQUIT."""
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _proc.terminate(proc, signal.SIGQUIT, timeout=10)

    def _kill_failed(self, proc: subprocess.Popen[bytes]) -> None:
        # SIGKILL would leave shared memory behind; the shutdown path releases it.
        self._terminate(proc)

    # -- internals -------------------------------------------------------------------
    def _child_env(self) -> dict[str, str]:
        # Drop PG* variables (PGDATA, PGPORT, ...) so a developer's shell cannot redirect us.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["HOME"] = str(self.work_dir)
        env["LC_ALL"] = "C"
        return env

    def _initdb(self) -> None:
        assert self._bindir is not None
        cmd = [
            str(self._bindir / "initdb"),
            "-D",
            str(self.work_dir / "data"),
            "-A",
            "trust",
            "-U",
            PG_USER,
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        with self.log_path.open("ab") as log:
            result = subprocess.run(
                cmd,
                cwd=self.work_dir,
                env=self._child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=120,
                user=self._ids[0] if self._ids else None,
                group=self._ids[1] if self._ids else None,
                extra_groups=[] if self._ids else None,
            )
        if result.returncode != 0:
            raise ServerError(f"initdb failed ({result.returncode}):\n{_proc.log_tail(self.log_path)}")

    def _launch(self) -> None:
        assert self._bindir is not None
        _proc.ensure_port_unused(self.host, self.port, "PostgreSQL")
        cmd = [str(self._bindir / "postgres"), "-D", str(self.work_dir / "data"), "-p", str(self.port)]
        cmd += ["-k", str(self.work_dir / "sock")]
        for key, value in self._settings.items():
            cmd += ["-c", f"{key}={value}"]
        self._spawn_and_wait(
            cmd,
            ready=self._ready,
            interval=0.1,
            env=self._child_env(),
            user=self._ids[0] if self._ids else None,
            group=self._ids[1] if self._ids else None,
            # SIGQUIT = immediate shutdown that still releases shared memory; SIGKILL would not.
            death_signal=signal.SIGQUIT,
        )

    def _ready(self) -> bool:
        """Ready = postmaster.pid reports "ready" (what pg_ctl -w checks) and TCP accepts."""
        try:
            lines = (self.work_dir / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and _proc.port_open(self.host, self.port)
