"""One lean system (auth, diagnostics with FTP on, gateway) shared by the remote maintenance tests.

Package scope: started once for these modules and stopped before other end-to-end tests run. Tests keep
apart by station ids and station models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import RunningSystem
from maintenance_support import UPLOAD_LIMIT, start_maintenance_system
from voltline_devinfra._proc import free_port


@pytest.fixture(scope="package")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    env = {
        "VOLTLINE_FTP_ENABLED": "true",
        "VOLTLINE_FTP_PORT": str(free_port()),
        "VOLTLINE_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
        "VOLTLINE_FIRMWARE_TICK_S": "0.3",
    }
    yield from start_maintenance_system(kafka, postgres, tmp_path_factory.mktemp("maintenance"), env)
