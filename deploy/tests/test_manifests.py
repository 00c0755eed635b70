"""The deployment manifests against their schemas, with the real tools (installed by the test tooling).

- docker-compose.yml and docker-compose.observability.yml against the Compose Specification's JSON schema
  (from the compose-go module), and the files the overlay mounts exist;
- the Helm chart: `helm lint --strict` and every rendered resource validated by `kubernetes-validate`
  (strict: unknown fields fail) for the Kubernetes version it ships, helm built from the Go module proxy;
- the Grafana dashboards are the current output of deploy/grafana/dashboards.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from voltline_devinfra.toolchain import compose_schema, helm_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "docker-compose.observability.yml"]
CHART = ROOT / "helm" / "voltline"
# The chart refuses to render without the Secret of the services' broker passwords (docs/security.md).
BROKER_CREDENTIALS = ("--set", "kafka.credentialsSecret=voltline-kafka")
GRAFANA = ROOT / "deploy" / "grafana"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_match_the_compose_specification(path: Path) -> None:
    schema = json.loads(compose_schema().read_text())
    document = yaml.safe_load(path.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_observability_overlay_mounts_files_of_the_repository() -> None:
    overlay = yaml.safe_load(COMPOSE_FILES[1].read_text())
    mounts = [v for service in overlay["services"].values() for v in service.get("volumes", []) if v.startswith("./")]
    assert mounts
    for mount in mounts:
        assert (ROOT / mount.split(":")[0]).exists(), mount
    assert set(overlay["services"]) & set(yaml.safe_load(COMPOSE_FILES[0].read_text())["services"]) == set()


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    result = _helm("template", "voltline", str(CHART), "--set", "adminToken=test-token", *BROKER_CREDENTIALS)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_helm_chart_lints_strictly() -> None:
    result = _helm("lint", "--strict", str(CHART), "--set", "adminToken=test-token", *BROKER_CREDENTIALS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rendered_resource_is_valid_kubernetes(rendered: list[dict[str, Any]]) -> None:
    version = kubernetes_validate.latest_version()
    problems = []
    for resource in rendered:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)
    kinds = {resource["kind"] for resource in rendered}
    assert {"StatefulSet", "Deployment", "Service"} <= kinds, kinds
    dashboards = [r for r in rendered if r["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert sorted(name for r in dashboards for name in r["data"]) == sorted(
        p.name for p in (GRAFANA / "dashboards").glob("*.json")
    )
    for configmap in dashboards:
        for text in configmap["data"].values():
            assert json.loads(text)["panels"]


def test_dashboards_are_generated_from_their_source() -> None:
    sys.path.insert(0, str(GRAFANA))
    try:
        from dashboards import render
    finally:
        sys.path.remove(str(GRAFANA))
    expected = render()
    for directory in (GRAFANA / "dashboards", CHART / "dashboards"):
        on_disk = {p.name: p.read_text() for p in directory.glob("*.json")}
        assert on_disk == expected, f"{directory}: run `python deploy/grafana/dashboards.py` and commit the result"
    for name, text in expected.items():
        dashboard = json.loads(text)
        assert dashboard["uid"].startswith("voltline-") and dashboard["panels"], name
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            assert all("station_id" not in t["expr"] for t in panel["targets"]), (name, panel["title"])
