"""`make test`'s xdist mode: workers share the controller's servers; the shared broker refuses pause()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from voltline_devinfra.pytest_plugin import KAFKA_ENV, POSTGRES_ENV, SharedKafka

WORKER_TEST = """
import pytest
from voltline_devinfra.postgres import ExternalPostgres
from voltline_devinfra.pytest_plugin import SharedKafka


def test_servers_come_from_the_controller(kafka, postgres, pg_url, worker_id):
    assert worker_id.startswith("gw")
    assert isinstance(kafka, SharedKafka) and kafka.bootstrap_servers == "{bootstrap}"
    assert isinstance(postgres, ExternalPostgres) and postgres.admin_dsn() == "{postgres}"
    assert pg_url.startswith("postgresql+asyncpg://")
    with pytest.raises(pytest.fail.Exception, match="private_kafka"):
        kafka.pause()
"""

# The controller's servers are the outer run's: the plumbing is under test here, not starting brokers.
CONFTEST = """
from voltline_devinfra import _xdist


def pytest_configure(config):
    _xdist.shared_addresses = lambda kafka, postgres: {{
        _xdist.KAFKA_KEY: "{bootstrap}", _xdist.POSTGRES_KEY: "{postgres}"
    }}
"""


def test_shared_kafka_refuses_to_pause() -> None:
    broker = SharedKafka("127.0.0.1:9092")
    with pytest.raises(pytest.fail.Exception, match="private_kafka"):
        broker.pause()
    with pytest.raises(pytest.fail.Exception, match="private_kafka"):
        broker.resume()


def test_workers_use_the_servers_the_controller_hands_over(kafka: Any, postgres: Any, tmp_path: Path) -> None:
    names = {"bootstrap": kafka.bootstrap_servers, "postgres": postgres.admin_dsn()}
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST.format(**names)))
    for name in ("test_one.py", "test_two.py"):  # a file per worker (--dist loadfile)
        (tmp_path / name).write_text(WORKER_TEST.format(**names))
    env = {k: v for k, v in os.environ.items() if k not in (KAFKA_ENV, POSTGRES_ENV, "PYTEST_XDIST_WORKER")}
    xdist = ["-n", "2", "--dist", "loadfile", "-p", "voltline_devinfra.pytest_plugin"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *xdist,
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
