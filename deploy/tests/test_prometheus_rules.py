"""The alert rules pass `promtool check rules`, each alert has a promtool unit test and a runbook.

promtool comes from Debian's `prometheus` package, installed by the test tooling when missing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from voltline_devinfra.prometheus import promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "voltline.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "voltline.rules.test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks"
REQUIRED = {
    "VoltlineServiceDown",
    "VoltlineServiceNotReady",
    "VoltlineConsumerLagGrowing",
    "VoltlineDeadLetters",
    "VoltlineOutboxBacklog",
    "VoltlineHighErrorRate",
    "VoltlineRequestReplyTimeouts",
    "VoltlineGatewayConnectionDrop",
    "VoltlineDiskAlmostFull",
}


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="module")
def tool() -> str:
    return promtool()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules(tool: str) -> None:
    result = _run(tool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass(tool: str) -> None:
    result = _run(tool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_required_alert_exists_with_a_unit_test_that_expects_it_to_fire() -> None:
    names = {rule["alert"] for rule in _alerts()}
    assert REQUIRED <= names, f"missing alerts: {REQUIRED - names}"
    fired: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            if check.get("exp_alerts"):
                fired.add(check["alertname"])
    assert names <= fired, f"alerts no unit test expects to fire: {names - fired}"


@pytest.mark.parametrize("alert", sorted(REQUIRED))
def test_every_alert_has_a_runbook_that_says_what_to_check_and_do(alert: str) -> None:
    rule = next(rule for rule in _alerts() if rule["alert"] == alert)
    runbook = ROOT / rule["annotations"]["runbook"]
    assert runbook.parent == RUNBOOKS and runbook.is_file(), runbook
    text = runbook.read_text()
    assert text.startswith(f"# {alert}\n")
    for section in ("**Means.**", "**Check.**", "**Fix.**"):
        assert section in text, f"{runbook.name} lacks {section}"
    assert runbook.name in (RUNBOOKS / "README.md").read_text()
    assert rule["labels"]["severity"] in {"warning", "critical"}


def test_alerts_group_by_low_cardinality_labels_only() -> None:
    """No alert groups by per-station (or per-request) labels: one page per problem, not per charger."""
    for rule in _alerts():
        for grouping in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            labels = {label.strip() for label in grouping.split(",")}
            assert not labels & {"station_id", "session_id", "route", "partition"}, (rule["alert"], labels)


def test_observability_doc_lists_every_metric() -> None:
    """docs/observability.md names every metric the code defines (a new metric without a line fails here)."""
    pattern = re.compile(r"\b(?:counter|gauge|histogram|Counter|Gauge|Histogram)\(\s*\"([a-z_:]+)\"")
    defined = {
        name
        for source in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
        for name in pattern.findall(source.read_text())
    }
    assert len(defined) > 50, defined
    doc = (ROOT / "docs" / "observability.md").read_text()
    assert not {name for name in defined if f"`{name}`" not in doc}
