"""The deployment files (docker-compose.yml, deploy/Dockerfile, helm/voltline) agree with the code.

Services are discovered from services/*/ (module voltline_<name>); a service is stateful when it ships
Alembic migrations, and its HTTP port is the default in its settings.py. Tests that parse YAML need
PyYAML (skipped without it); the `config`/`lint` tests run only where docker compose or helm exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
POSTGRES_INIT_DIR = ROOT / "deploy" / "postgres"
CHART_DIR = ROOT / "helm" / "voltline"
INITDB = "/docker-entrypoint-initdb.d"


def _service_names() -> list[str]:
    return sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())


SERVICES = _service_names()


def _package(name: str) -> Path:
    return ROOT / "services" / name / "src" / f"voltline_{name}"


def _is_stateful(name: str) -> bool:
    return (_package(name) / "migrations").is_dir()


def _default_http_port(name: str) -> int:
    text = (_package(name) / "settings.py").read_text()
    match = re.search(r"http_port:\s*int\s*=\s*Field\(\s*default\s*=\s*(\d+)", text)
    assert match, f"no http_port default in services/{name} settings.py"
    return int(match.group(1))


def _created_databases() -> set[str]:
    """Databases created by the postgres init script(s) in deploy/postgres/."""
    names: set[str] = set()
    for script in sorted(POSTGRES_INIT_DIR.glob("*")):
        if script.suffix in {".sql", ".sh"}:
            names |= set(re.findall(r'CREATE\s+DATABASE\s+"?([A-Za-z0-9_]+)"?', script.read_text(), re.IGNORECASE))
    return names


def _dockerfile_instructions() -> list[str]:
    """Instructions with line continuations joined and comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    return [" ".join(ins.split()) for ins in "\n".join(lines).replace("\\\n", " ").splitlines() if ins.strip()]


@pytest.fixture(scope="module")
def yaml():
    return pytest.importorskip("yaml", reason="PyYAML is needed to parse the deployment YAML (add pyyaml to dev)")


@pytest.fixture(scope="module")
def compose(yaml) -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def _published(service: dict) -> set[int]:
    published = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published.add(int(port["published"]))
        else:
            parts = str(port).split(":")
            published.add(int(parts[-2] if len(parts) > 1 else parts[-1]))
    return published


def test_services_are_discovered():
    assert "gateway" in SERVICES
    assert len(SERVICES) >= 6, SERVICES
    for name in SERVICES:
        assert (_package(name) / "__main__.py").is_file(), f"python -m voltline_{name} has no __main__"


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_every_service_directory_has_a_compose_service(compose):
    missing = [name for name in SERVICES if name not in compose["services"]]
    assert not missing, f"services/ without a compose service: {missing}"


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_runs_its_module_from_the_shared_image(compose, name):
    service = compose["services"][name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert Path(ROOT, service["build"].get("context", "."), service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert _command(service) == [f"voltline_{name}"]


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_gets_admin_token_and_kafka(compose, name):
    service = compose["services"][name]
    env = _env(service)
    assert env.get("VOLTLINE_ADMIN_TOKEN", "").startswith("${VOLTLINE_ADMIN_TOKEN:?"), (
        "the admin token must come from the environment, with an error when unset"
    )
    bootstrap = env.get("VOLTLINE_KAFKA_BOOTSTRAP", "")
    assert bootstrap, f"{name} has no VOLTLINE_KAFKA_BOOTSTRAP"
    for address in bootstrap.split(","):
        host = address.rsplit(":", 1)[0]
        assert host in compose["services"], f"{name}: kafka bootstrap {address} names no compose service"
        assert _depends_on(service).get(host) == "service_healthy", f"{name} must wait for {host} to be healthy"
    assert env.get("VOLTLINE_KAFKA_IDEMPOTENCE") == "true", "real Kafka supports idempotent producers"
    assert env.get("VOLTLINE_HTTP_HOST") == "0.0.0.0"


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_http_port_matches_its_settings(compose, name):
    service = compose["services"][name]
    port = _default_http_port(name)
    assert _env(service).get("VOLTLINE_HTTP_PORT") == str(port)
    assert port in _published(service)


def test_gateway_publishes_ocpp(compose):
    env = _env(compose["services"]["gateway"])
    assert env.get("VOLTLINE_OCPP_HOST") == "0.0.0.0"
    assert int(env["VOLTLINE_OCPP_PORT"]) in _published(compose["services"]["gateway"])


def test_instance_ids_are_set_and_distinct(compose):
    ids = [_env(compose["services"][name]).get("VOLTLINE_INSTANCE_ID") for name in SERVICES]
    assert all(ids), ids
    assert len(set(ids)) == len(ids), ids


@pytest.mark.parametrize("name", SERVICES)
def test_stateful_services_get_their_own_created_database(compose, name):
    service = compose["services"][name]
    url = _env(service).get("VOLTLINE_DATABASE_URL")
    if not _is_stateful(name):
        assert url is None, f"{name} has no migrations, so it should get no database"
        return
    assert url, f"{name} ships migrations but gets no VOLTLINE_DATABASE_URL"
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg"
    host = parts.netloc.rsplit("@", 1)[-1].split(":")[0]
    assert host in compose["services"], f"{name}: database host {host} is no compose service"
    assert _depends_on(service).get(host) == "service_healthy"
    database = parts.path.lstrip("/")
    assert database in _created_databases(), f"{name} uses database {database!r}, which no init script creates"


def test_one_database_per_stateful_service(compose):
    urls = [_env(compose["services"][n])["VOLTLINE_DATABASE_URL"] for n in SERVICES if _is_stateful(n)]
    databases = [urlsplit(url).path.lstrip("/") for url in urls]
    assert len(set(databases)) == len(databases), databases


def test_postgres_runs_the_init_script(compose):
    volumes = compose["services"]["postgres"].get("volumes") or []
    mounted = {
        (ROOT / v.split(":")[0]).resolve() for v in volumes if isinstance(v, str) and v.split(":")[1].startswith(INITDB)
    }
    scripts = {p.resolve() for p in POSTGRES_INIT_DIR.glob("*") if p.suffix in {".sql", ".sh"}}
    assert scripts, "no init script in deploy/postgres/"
    assert scripts <= mounted, f"init scripts not mounted into {INITDB}: {scripts - mounted}"


def test_kafka_and_postgres_have_healthchecks(compose):
    for name in ("kafka", "postgres"):
        assert compose["services"][name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


# --- deploy/Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_installs_the_locked_workspace():
    instructions = _dockerfile_instructions()
    copies = [ins for ins in instructions if ins.upper().startswith("COPY ") and "--from" not in ins]
    assert any("uv.lock" in ins.split() for ins in copies), "the Dockerfile must copy uv.lock"
    for path in ("pyproject.toml", "libs/", "services/"):
        assert any(path in ins.split() for ins in copies), f"the Dockerfile must copy {path}"
    syncs = [ins for ins in instructions if ins.upper().startswith("RUN ") and "uv sync" in ins]
    assert syncs, "the Dockerfile must run uv sync"
    assert all("--frozen" in ins.split() and "--no-dev" in ins.split() for ins in syncs), syncs
    assert any(ins.startswith('ENTRYPOINT ["python", "-m"]') for ins in instructions)
    assert any(ins.startswith("USER ") and ins.split()[1].split(":")[0] not in {"root", "0"} for ins in instructions)
    assert any(ins.startswith("HEALTHCHECK") and "/healthz" in ins for ins in instructions)


def test_dockerignore_keeps_the_build_inputs():
    ignored = {ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", ".tools", "data"} <= ignored
    assert not ignored & {"uv.lock", "pyproject.toml", "libs", "services", "schemas", "*"}


# --- helm/voltline -----------------------------------------------------------------------------------


def test_helm_values_match_the_services(yaml):
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert sorted(values["services"]) == SERVICES
    for name, svc in values["services"].items():
        assert svc["httpPort"] == _default_http_port(name)
        if _is_stateful(name):
            assert svc["database"] in _created_databases()
        else:
            assert not svc.get("database")


def test_helm_gateway_is_a_statefulset_with_stable_instance_ids(yaml):
    """Stable pod names keep each gateway replica's instance id (and its reply topic) across rollouts."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["services"]["gateway"]["statefulSet"] is True
    assert not any(svc.get("statefulSet") for name, svc in values["services"].items() if name != "gateway")
    workload = (CHART_DIR / "templates" / "deployment.yaml").read_text()
    assert "kind: {{ if $svc.statefulSet }}StatefulSet{{ else }}Deployment{{ end }}" in workload
    assert 'serviceName: {{ include "voltline.fullname" $ }}-{{ $name }}-pods' in workload
    assert "fieldPath: metadata.name" in workload  # VOLTLINE_INSTANCE_ID = the (stable) pod name
    services = (CHART_DIR / "templates" / "service.yaml").read_text()
    assert "clusterIP: None" in services and "-{{ $name }}-pods" in services


def test_helm_chart_metadata(yaml):
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "voltline" and chart["version"]


# --- the real tools, where installed -----------------------------------------------------------------


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_compose_config_validates():
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {k: v for k, v in os.environ.items() if k != "VOLTLINE_ADMIN_TOKEN"}
    base = [*command, "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT)]

    unset = _run([*base, "config", "-q"], env)
    assert unset.returncode != 0, "config must fail while VOLTLINE_ADMIN_TOKEN is unset"
    assert "set VOLTLINE_ADMIN_TOKEN" in unset.stdout + unset.stderr

    ok = _run([*base, "config", "-q"], {**env, "VOLTLINE_ADMIN_TOKEN": "test-token"})
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_helm_chart_lints_and_renders():
    from voltline_devinfra.toolchain import helm_binary

    helm = str(helm_binary())  # built from the Go module proxy on first use: this test never skips
    env = dict(os.environ)
    chart = str(CHART_DIR)
    creds = ["--set", "kafka.credentialsSecret=voltline-kafka"]
    lint = _run([helm, "lint", "--strict", chart, "--set", "adminToken=test-token", *creds], env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = _run([helm, "template", "voltline", chart, "--set", "adminToken=test-token", *creds], env)
    assert rendered.returncode == 0, rendered.stderr
    for name in SERVICES:
        assert f'args: ["voltline_{name}"]' in rendered.stdout
    assert "kind: StatefulSet\nmetadata:\n  name: voltline-gateway\n" in rendered.stdout
    assert "serviceName: voltline-gateway-pods" in rendered.stdout
    assert "VOLTLINE_KAFKA_SASL_USERNAME" in rendered.stdout
    no_creds = _run([helm, "template", "voltline", chart, "--set", "adminToken=test-token"], env)
    assert no_creds.returncode != 0 and "credentialsSecret" in no_creds.stderr
    no_token = _run([helm, "template", "voltline", chart, *creds], env)
    assert no_token.returncode != 0 and "adminToken" in no_token.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_compose_services_authenticate_to_the_broker_as_themselves(compose, name):
    env = _env(compose["services"][name])
    assert env["VOLTLINE_KAFKA_SECURITY_PROTOCOL"].startswith("SASL")
    assert env["VOLTLINE_KAFKA_SASL_USERNAME"] == name
    assert env["VOLTLINE_KAFKA_SASL_PASSWORD_FILE"] == f"/run/kafka-secrets/{name}"


def test_compose_broker_requires_sasl_and_acls(compose):
    env = _env(compose["services"]["kafka"])
    assert "PLAINTEXT://" not in env["KAFKA_LISTENERS"].replace("SASL_PLAINTEXT://", "")
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    acls = (ROOT / "deploy" / "kafka" / "acls.sh").read_text()
    for name in SERVICES:
        assert f" {name}" in acls.split("for service in", 1)[1].splitlines()[0] or name == "auth"
    deny = acls.split("--deny-principal", 1)[0].rsplit("for service in", 1)[1].splitlines()[0]
    assert "auth" not in deny.split() and "auth.station-registry" in acls and "auth.api-keys" in acls
