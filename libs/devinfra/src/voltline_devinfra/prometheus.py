"""Prometheus, promtool and the node exporter from Debian's packages, for the SRE kit's tests.

``apt-get install prometheus`` gives both ``prometheus`` and ``promtool``; the tooling installs them
itself (as it does PostgreSQL) so a fresh CI machine runs the rule and scrape tests instead of skipping.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voltline_devinfra import _proc
from voltline_devinfra._server import LocalServer
from voltline_devinfra._system import require_tool


def promtool() -> str:
    """Path of ``promtool``, installing Debian's ``prometheus`` package if needed."""
    return require_tool("promtool", "prometheus")


def prometheus_binary() -> str:
    return require_tool("prometheus", "prometheus")


def node_exporter_binary() -> str:
    return require_tool("prometheus-node-exporter", "prometheus-node-exporter")


class PrometheusServer(LocalServer):
    """A throwaway Prometheus scraping ``targets`` (``{job: [host:port, ...]}``) every ``scrape_interval``."""

    kind = "prometheus"
    _dir_prefix = "voltline-prometheus-"
    _port_taken_marker = "address already in use"
    _stop_timeout = 15.0

    def __init__(
        self,
        targets: dict[str, list[str]],
        *,
        rule_files: Sequence[Path] = (),
        scrape_interval: str = "1s",
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(host=host, port=port, startup_timeout=startup_timeout)
        self._targets = targets
        self._rule_files = [Path(p).resolve() for p in rule_files]
        self._interval = scrape_interval
        self._binary = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        self._binary = prometheus_binary()

    def _configure(self) -> None:
        config = {
            "global": {"scrape_interval": self._interval, "evaluation_interval": self._interval},
            "rule_files": [str(p) for p in self._rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": addresses}]}
                for job, addresses in sorted(self._targets.items())
            ],
        }
        # JSON is YAML: no YAML library needed.
        (self.work_dir / "prometheus.yml").write_text(json.dumps(config, indent=2))

    def _launch(self) -> None:
        cmd = [
            self._binary,
            f"--config.file={self.work_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.work_dir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]
        self._spawn_and_wait(cmd, ready=self._ready, interval=0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; returns ``data`` or raises with Prometheus' error message."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise ValueError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]


class NodeExporter(LocalServer):
    """The node exporter (filesystem and host metrics), for the disk-space alert."""

    kind = "node-exporter"
    _dir_prefix = "voltline-node-exporter-"
    _port_taken_marker = "address already in use"
    _stop_timeout = 10.0

    def _prepare(self) -> None:
        self._binary = node_exporter_binary()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _launch(self) -> None:
        cmd = [self._binary, f"--web.listen-address={self.address}", "--collector.disable-defaults"]
        cmd += ["--collector.filesystem", "--collector.cpu", "--collector.meminfo", "--collector.loadavg"]
        self._spawn_and_wait(cmd, ready=lambda: _proc.port_open(self.host, self.port), interval=0.2)
