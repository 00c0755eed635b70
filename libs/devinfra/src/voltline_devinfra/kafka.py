"""A real Apache Kafka broker for tests, without Docker.

The official jars come from Maven Central once (via ``mvn``) into a cache outside git, and
each :class:`KafkaServer` runs a single-node KRaft broker+controller in a temp dir. Kafka
3.9.x is pinned because aiokafka still speaks protocol versions that Kafka 4 removed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from voltline_devinfra import _proc
from voltline_devinfra._kafka_wire import metadata_ready
from voltline_devinfra._proc import ServerError
from voltline_devinfra._server import LocalServer
from voltline_devinfra._system import cache_dir, require_tool

KAFKA_VERSION = "3.9.1"
SCALA_VERSION = "2.13"
# The logging binding the official Kafka 3.9 distribution ships; kafka_2.13's pom only
# brings slf4j-api, so without these the broker would log nothing at all.
_LOGGING_DEPS = (("org.slf4j", "slf4j-reload4j", "1.7.36"), ("ch.qos.reload4j", "reload4j", "1.2.25"))
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

_POM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by voltline_devinfra.kafka: the runtime classpath of an Apache Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.voltline</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""

_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.org.apache.kafka.clients=WARN
"""

_COMMON_JVM_OPTS = ("-XX:-UsePerfData", "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true")
# Small heap, serial GC and C1-only JIT: starts in ~2 s and stays light on a 2-core box.
TEST_JVM_OPTS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *_COMMON_JVM_OPTS)
# The JVM's own defaults (G1, full JIT), as a production broker runs: dearer to start, cheaper per message.
PRODUCTION_JVM_OPTS = _COMMON_JVM_OPTS

# Single node, nothing replicated, no rebalance delay: what tests need, and cheap.
_TEST_PROPERTIES: Mapping[str, str] = {
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",  # consumer replicas may fail over in ~2 s (docs/scaling.md)
    "auto.create.topics.enable": "false",  # topics come from their declarations (voltline_events.topics)
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.leader.rebalance.enable": "false",
    "delete.topic.enable": "true",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
    "log.cleaner.threads": "1",
    "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
}


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    """Cache dir of one Kafka version; its ``libs/`` holds the broker classpath."""
    return cache_dir() / f"kafka-{version}"


def _main_jar(libs: Path, version: str) -> Path:
    return libs / f"kafka_{SCALA_VERSION}-{version}.jar"


def _pom(version: str) -> str:
    deps = [("org.apache.kafka", f"kafka_{SCALA_VERSION}", version), *_LOGGING_DEPS]
    lines = [
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    ]
    return _POM_TEMPLATE.format(version=version, dependencies="\n".join(lines))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise fetches across processes (parallel `make` targets, two terminals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Return the ``libs`` dir of Kafka ``version``, fetching it from Maven Central if needed.

    The download goes to a temp dir that is renamed into place only when complete, so an
    interrupted fetch never leaves a half-filled cache that later runs would trust.
    """
    home = kafka_home(version)
    libs = home / "libs"
    if _main_jar(libs, version).is_file():
        return libs
    with _file_lock(home.with_name(home.name + ".lock")):
        if _main_jar(libs, version).is_file():  # another process finished meanwhile
            return libs
        mvn = require_tool("mvn", "maven")
        if home.exists():  # a broken cache from an older layout: start over
            shutil.rmtree(home)
        # Leftovers of fetches killed outright (SIGKILL); safe to delete while we hold the lock.
        for stale in home.parent.glob(f".{home.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.partial-", dir=home.parent))
        try:
            (staging / "pom.xml").write_text(_pom(version))
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(staging / "pom.xml"),
                f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={staging / 'libs'}",
                "-DincludeScope=runtime",
            ]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=staging)
            if result.returncode != 0 or not _main_jar(staging / "libs", version).is_file():
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise ServerError(f"fetching Kafka {version} jars with Maven failed:\n{tail}")
            os.rename(staging, home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs


def java_executable() -> str:
    """The ``java`` to run Kafka with: $JAVA_HOME first, then PATH, else install a JRE."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return require_tool("java", "openjdk-17-jre-headless")


def _random_cluster_id() -> str:
    """A Kafka-style base64 UUID, as ``kafka-storage.sh random-uuid`` would print."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka rejects ids that look like CLI flags
            return cluster_id


class KafkaServer(LocalServer):
    """A throwaway single-node KRaft Kafka on loopback.

    ``pause()``/``resume()`` restart the same broker on the same ports and data dir, which
    lets tests prove that clients survive (and lose nothing during) a broker outage.
    """

    kind = "kafka"
    _dir_prefix = "voltline-kafka-"

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        version: str = KAFKA_VERSION,
        heap: str = "512m",
        properties: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        jvm_options: Sequence[str] = TEST_JVM_OPTS,
    ) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self._controller_port = controller_port
        self._version = version
        self._heap = heap
        self._extra_properties = dict(properties or {})
        self._jvm_options = tuple(jvm_options)
        self._libs: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for a Kafka client's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    def pause(self, *, graceful: bool = True) -> None:
        """Stop the broker process but keep ports and data; ``graceful=False`` SIGKILLs it."""
        if self._proc is None:
            raise ServerError("KafkaServer is not running")
        _proc.terminate(self._proc, signal.SIGTERM if graceful else signal.SIGKILL, timeout=30)
        self._proc = None

    def resume(self) -> None:
        """Start the paused broker again on the same ports and data dir; waits until ready."""
        if self._work_dir is None:
            raise ServerError("KafkaServer has not been started")
        if self._proc is not None:
            raise ServerError("KafkaServer is not paused")
        self._launch()

    # -- LocalServer hooks -----------------------------------------------------------
    def _prepare(self) -> None:
        self._libs = ensure_kafka_jars(self._version)

    def _pick_ports(self) -> None:
        super()._pick_ports()
        if not self._fixed_port or self._controller_port is None:
            self._controller_port = _proc.free_port(exclude=frozenset({self.port}))

    def _configure(self) -> None:
        self._write_config()
        self._format_storage()

    # -- internals -------------------------------------------------------------------
    def _properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self._controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self._port},CONTROLLER://{self.host}:{self._controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self._port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.work_dir / "data"),
            **_TEST_PROPERTIES,
        }
        props.update(self._extra_properties)
        return props

    def _write_config(self) -> None:
        text = "".join(f"{key}={value}\n" for key, value in self._properties().items())
        (self.work_dir / "server.properties").write_text(text)
        (self.work_dir / "log4j.properties").write_text(_LOG4J_PROPERTIES)

    def _java_cmd(self, heap: str, main: str, *args: str) -> list[str]:
        assert self._libs is not None
        return [
            java_executable(),
            f"-Xmx{heap}",
            "-Xms64m",
            *self._jvm_options,
            f"-Dlog4j.configuration=file:{self.work_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.work_dir}",
            "-cp",
            f"{self._libs}/*",
            main,
            *args,
        ]

    def _format_storage(self) -> None:
        cmd = self._java_cmd(
            "256m",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            _random_cluster_id(),
            "-c",
            str(self.work_dir / "server.properties"),
            "--ignore-formatted",
        )
        with self.log_path.open("ab") as log:
            result = subprocess.run(
                cmd, cwd=self.work_dir, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=120
            )
        if result.returncode != 0:
            raise ServerError(
                f"kafka StorageTool format failed ({result.returncode}); log {self.log_path}:\n"
                f"{_proc.log_tail(self.log_path)}"
            )

    def _launch(self) -> None:
        for port in (self.port, self._controller_port):
            assert port is not None
            _proc.ensure_port_unused(self.host, port, f"Kafka {self._version}")
        cmd = self._java_cmd(self._heap, "kafka.Kafka", str(self.work_dir / "server.properties"))
        self._spawn_and_wait(cmd, ready=lambda: metadata_ready(self.host, self.port), interval=0.2)
