"""The import rule of every service: `domain/` and `service_layer/` depend on ports, never on infrastructure.

Use cases talk to repository / unit-of-work interfaces (`service_layer/ports.py`); `bootstrap.py` wires the
SQL and Kafka adapters in. So neither layer may import SQLAlchemy, a Kafka client, the web framework, or its
own service's `adapters`/`entrypoints`/`bootstrap` (issue 19, item 4). Read from the source (AST), imports
inside functions and under TYPE_CHECKING included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src" / f"voltline_{p.name}").is_dir())
LAYERS = ("domain", "service_layer")
INFRASTRUCTURE = ("sqlalchemy", "aiokafka", "kafka", "faust", "fastapi", "starlette", "asyncpg", "aiosqlite")
OWN_OUTER = ("adapters", "entrypoints", "bootstrap")

# Services whose layers still import infrastructure on this branch. Strict: once one is clean the test
# reports XPASS as a failure, so whoever cleans it removes it from here.
NOT_YET_CLEAN: dict[str, str] = {}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module `path` imports, with its line; relative imports resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(service: str) -> list[str]:
    src = ROOT / "services" / service / "src"
    own = f"voltline_{service}"
    forbidden_own = tuple(f"{own}.{outer}" for outer in OWN_OUTER)
    found = []
    for layer in LAYERS:
        for path in sorted((src / own / layer).rglob("*.py")):
            package = ".".join(path.relative_to(src).with_suffix("").parts[:-1])
            for line, module in _imports(path, package):
                top = module.split(".")[0]
                if top in INFRASTRUCTURE or module == own + ".bootstrap" or module.startswith(forbidden_own):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=NOT_YET_CLEAN[s])) if s in NOT_YET_CLEAN else s
        for s in SERVICES
    ],
)
def test_domain_and_service_layer_import_no_infrastructure(service: str) -> None:
    found = violations(service)
    assert not found, "\n".join(found)


def test_the_rule_sees_direct_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: each kind of forbidden import is caught, an allowed one is not."""
    module = tmp_path / "m.py"
    module.write_text(
        "import sqlalchemy.orm\n"
        "from voltline_x.domain import rules\n"
        "from ..adapters import orm\n"
        "def f():\n"
        "    from fastapi import FastAPI\n"
    )
    seen = [name for _, name in _imports(module, "voltline_x.service_layer")]
    assert seen == ["sqlalchemy.orm", "voltline_x.domain.rules", "voltline_x.adapters.orm", "fastapi.FastAPI"]
