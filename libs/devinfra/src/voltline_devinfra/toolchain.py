"""Deployment-check tools from the Go module proxy, cached under the voltline cache dir.

Helm is built from source with the Go toolchain (``go install helm.sh/helm/v3/cmd/helm@VERSION``), and
the Compose file schema comes from the ``compose-go`` module, so the Helm and Compose checks run on a
fresh CI machine instead of skipping. The first build takes a few minutes; ``make test`` does it in its
``fetch`` step.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

from voltline_devinfra._system import cache_dir

HELM_VERSION = "3.16.4"
COMPOSE_GO = "github.com/compose-spec/compose-go/v2"
COMPOSE_GO_VERSION = "v2.4.7"
# The ServiceMonitor and PrometheusRule CRDs the Helm chart's resources are checked against.
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.79.2"


def _go() -> str:
    go = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if Path(p).exists()), None)
    if go is None:
        raise RuntimeError("the Go toolchain (go 1.22 or newer) is needed to build helm: https://go.dev/dl/")
    return go


def _go_env() -> dict[str, str]:
    base = cache_dir() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(base / "mod"),
        "GOCACHE": str(base / "build"),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOTOOLCHAIN": "local",
    }


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{tail}")
    return result.stdout


def helm_binary() -> Path:
    """Path of the cached ``helm``, built from the Go module proxy the first time (under a file lock)."""
    home = cache_dir() / f"helm-{HELM_VERSION}"
    helm = home / "bin" / "helm"
    if helm.exists():
        return helm
    home.mkdir(parents=True, exist_ok=True)
    with open(home.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not helm.exists():
            env = {**_go_env(), "GOBIN": str(home / "build")}
            _run([_go(), "install", f"helm.sh/helm/v3/cmd/helm@v{HELM_VERSION}"], env, home)
            (home / "bin").mkdir(exist_ok=True)
            os.replace(home / "build" / "helm", helm)  # only a finished build is ever trusted
    return helm


def compose_schema() -> Path:
    """The Compose Specification's JSON schema, from the compose-go module (downloaded once)."""
    home = cache_dir() / "go"
    home.mkdir(parents=True, exist_ok=True)
    info = json.loads(_run([_go(), "mod", "download", "-json", f"{COMPOSE_GO}@{COMPOSE_GO_VERSION}"], _go_env(), home))
    return Path(info["Dir"]) / "schema" / "compose-spec.json"


def prometheus_operator_crds() -> Path:
    """The prometheus-operator's CRD manifests (`monitoring.coreos.com_*.yaml`), from its Go module (downloaded
    once): the schemas of the chart's ServiceMonitor and PrometheusRule."""
    home = cache_dir() / "go"
    home.mkdir(parents=True, exist_ok=True)
    module = f"{PROMETHEUS_OPERATOR}@{PROMETHEUS_OPERATOR_VERSION}"
    info = json.loads(_run([_go(), "mod", "download", "-json", module], _go_env(), home))
    return Path(info["Dir"]) / "example" / "prometheus-operator-crd"
