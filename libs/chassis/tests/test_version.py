"""One version number everywhere: every package of the workspace, the Helm chart's appVersion, what services report."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from voltline_chassis import VERSION

ROOT = Path(__file__).resolve().parents[3]


def test_every_package_the_chart_and_the_services_carry_one_version() -> None:
    pyprojects = [
        ROOT / "pyproject.toml",
        *sorted(ROOT.glob("libs/*/pyproject.toml")),
        *ROOT.glob("services/*/pyproject.toml"),
    ]
    versions = {str(p.relative_to(ROOT)): tomllib.loads(p.read_text())["project"]["version"] for p in pyprojects}
    assert len(versions) >= 12
    assert set(versions.values()) == {VERSION}, versions
    chart = (ROOT / "helm/voltline/Chart.yaml").read_text()
    app_version = re.search(r'^appVersion:\s*"?([^"\n]+)"?', chart, re.MULTILINE)
    assert app_version is not None and app_version.group(1) == VERSION


def test_no_service_hardcodes_a_version_of_its_own() -> None:
    hardcoded = [
        str(p.relative_to(ROOT))
        for p in ROOT.glob("services/*/src/*/bootstrap.py")
        if re.search(r'^VERSION\s*=\s*"', p.read_text(), re.MULTILINE)
    ]
    assert hardcoded == []
