"""What the local servers (Kafka, PostgreSQL, tansu) share: one child process in a temp work dir.

A subclass says how to prepare (fetch binaries), set up its work dir once, configure and launch on
the chosen ports, and how to stop its process; this class owns the order, the retry when an
auto-picked port is taken between the check and the bind, and the cleanup on any failure.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from voltline_devinfra import _proc
from voltline_devinfra._proc import ServerError


class LocalServer:
    kind: ClassVar[str] = "server"
    _dir_prefix: ClassVar[str] = "voltline-"
    # Text in the log that means "an auto-picked port was taken meanwhile": try other ports.
    _port_taken_marker: ClassVar[str] = "in use"
    _stop_timeout: ClassVar[float] = 30.0

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 60.0) -> None:
        self._host = host
        self._fixed_port = port is not None
        self._port = port
        self._startup_timeout = startup_timeout
        self._work_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def host(self) -> str:
        """Loopback by default: nothing else on the network should reach a local server."""
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError(f"{type(self).__name__} has not been started")
        return self._port

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            raise ServerError(f"{type(self).__name__} has not been started")
        return self._work_dir

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.kind}.log"

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Prepare, set up a temp work dir, launch on free ports (retried), wait until ready."""
        if self._work_dir is not None:
            raise ServerError(f"{type(self).__name__} already started")
        began = time.monotonic()
        self._prepare()
        self._work_dir = Path(tempfile.mkdtemp(prefix=self._dir_prefix))
        _proc.track(self)
        try:
            self._setup()
            attempts = 1 if self._fixed_port else 3
            for attempt in range(1, attempts + 1):
                self._pick_ports()
                try:
                    self._configure()
                    self._launch()
                    break
                except ServerError:
                    if attempt == attempts or self._port_taken_marker not in _proc.log_tail(self.log_path, 200):
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the process and delete the work dir; idempotent."""
        if self._proc is not None:
            self._terminate(self._proc)
            self._proc = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        _proc.untrack(self)

    # -- hooks -----------------------------------------------------------------------
    def _prepare(self) -> None:
        """Before the work dir exists: fetch or locate binaries."""

    def _setup(self) -> None:
        """Once per work dir (e.g. initdb)."""

    def _pick_ports(self) -> None:
        if not self._fixed_port:
            self._port = _proc.free_port(self.host)

    def _configure(self) -> None:
        """Per launch attempt, after the ports are chosen (e.g. write config files)."""

    def _launch(self) -> None:
        raise NotImplementedError

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _proc.terminate(proc, signal.SIGTERM, timeout=self._stop_timeout)

    def _kill_failed(self, proc: subprocess.Popen[bytes]) -> None:
        """A process that did not become ready: no need to be gentle."""
        _proc.terminate(proc, signal.SIGKILL, timeout=10)

    # -- helpers for subclasses --------------------------------------------------------
    def _spawn_and_wait(self, cmd: list[str], *, ready: Callable[[], bool], interval: float, **spawn: Any) -> None:
        self._proc = _proc.spawn(cmd, log_path=self.log_path, cwd=self.work_dir, **spawn)
        try:
            _proc.wait_until(
                ready,
                timeout=self._startup_timeout,
                proc=self._proc,
                what=f"{self.kind} on {self.host}:{self.port}",
                log_path=self.log_path,
                interval=interval,
            )
        except BaseException:
            self._kill_failed(self._proc)
            self._proc = None
            raise

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "not started"
        return f"<{type(self).__name__} {where} running={self.is_running}>"
