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
from voltline_devinfra.toolchain import compose_schema, helm_binary, prometheus_operator_crds

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


# -- the chart with the production values (docs/deploy.md) ------------------------------------------------

PRODUCTION = ("-f", str(CHART / "values-production.yaml"))
RULES = ROOT / "deploy" / "prometheus" / "rules" / "voltline.rules.yml"
OPERATOR_KINDS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    result = _helm("template", "voltline", str(CHART), *PRODUCTION)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _of(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def test_helm_chart_lints_strictly_with_production_values() -> None:
    result = _helm("lint", "--strict", str(CHART), *PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_manifests_match_their_schemas(production: list[dict[str, Any]]) -> None:
    """Kubernetes' own kinds with kubernetes-validate (strict); the prometheus-operator's against its CRDs."""
    version = kubernetes_validate.latest_version()
    crds = prometheus_operator_crds()
    problems = []
    for resource in production:
        where = f"{resource['kind']}/{resource['metadata']['name']}"
        if resource["kind"] in OPERATOR_KINDS:
            crd = yaml.safe_load((crds / f"monitoring.coreos.com_{OPERATOR_KINDS[resource['kind']]}.yaml").read_text())
            (served,) = [v for v in crd["spec"]["versions"] if v["name"] == resource["apiVersion"].split("/")[1]]
            validator = jsonschema.Draft7Validator(served["schema"]["openAPIV3Schema"])
            problems += [f"{where}: {e.message} at {list(e.path)}" for e in validator.iter_errors(resource)]
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)
    kinds = {r["kind"] for r in production}
    assert {"PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler", *OPERATOR_KINDS} <= kinds, kinds


def _workloads(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _of(resources, "Deployment") + _of(resources, "StatefulSet")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_every_workload_is_hardened_and_bounded(production: list[dict[str, Any]]) -> None:
    for workload in _workloads(production):
        name, pod = workload["metadata"]["name"], workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"], name
            assert {p["httpGet"]["path"] for k, p in container.items() if k.endswith("Probe")} == {
                "/healthz",
                "/readyz",
            }
            # Credentials only by reference: the admin token, the database URL, broker and OTLP passwords.
            for env in container["env"]:
                secretish = any(word in env["name"] for word in ("TOKEN", "PASSWORD", "POSTGRES_URL", "HEADERS"))
                assert not secretish or "secretKeyRef" in env.get("valueFrom", {}), (name, env["name"])


def test_every_workload_has_a_disruption_budget_and_a_network_policy(production: list[dict[str, Any]]) -> None:
    budgets, policies = _of(production, "PodDisruptionBudget"), _of(production, "NetworkPolicy")
    for workload in _workloads(production):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert [b for b in budgets if _selects(b["spec"]["selector"], labels)], workload["metadata"]["name"]
        (policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert {53, 9093, 4318} <= egress_ports
        # Only services with a database reach PostgreSQL; only the gateway accepts stations.
        has_database = any(
            e["name"] == "VOLTLINE_DATABASE_URL" for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]
        )
        assert (5432 in egress_ports) is has_database, workload["metadata"]["name"]
        ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        gateway = labels["app.kubernetes.io/component"] == "gateway"
        assert ingress_ports == ({"http", "ocpp", "ocpp-tls"} if gateway else {"http"})


def test_only_stateless_deployments_autoscale(production: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in _of(production, "Deployment")}
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in _of(production, "HorizontalPodAutoscaler")}
    assert targets == {f"voltline-{name}" for name in ("auth", "session", "billing", "analytics")}
    for name, deployment in deployments.items():
        assert ("replicas" in deployment["spec"]) is (name not in targets), name  # the autoscaler owns the count


def test_prometheus_operator_resources_scrape_every_service_and_carry_the_tested_rules(
    production: list[dict[str, Any]],
) -> None:
    (monitor,) = _of(production, "ServiceMonitor")
    selector = monitor["spec"]["selector"]
    scraped = [
        s
        for s in _of(production, "Service")
        if _selects(selector, s["metadata"]["labels"]) and monitor["spec"]["jobLabel"] in s["metadata"]["labels"]
    ]
    jobs = sorted(s["metadata"]["labels"][monitor["spec"]["jobLabel"]] for s in scraped)
    assert jobs == sorted(
        f"voltline-{w['spec']['template']['metadata']['labels']['app.kubernetes.io/component']}"
        for w in _workloads(production)
    )  # one scrape per pod, job names the rules select
    (rule,) = _of(production, "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    assert rule["metadata"]["labels"]["release"] == monitor["metadata"]["labels"]["release"]
