"""make run keeps its data private: the admin token, databases and logs are the user's alone (issue 11)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from voltline_devinfra.run import admin_token, private_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_token_are_private(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("VOLTLINE_ADMIN_TOKEN", raising=False)
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "old.log").write_text("x")
    (data / "logs" / "old.log").chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        private_data_dir(data)
        token = admin_token(data)
        assert mode(data) == 0o700 and mode(data / "logs") == 0o700 and mode(data / "logs" / "old.log") == 0o600
        assert mode(data / "admin-token") == 0o600 and (data / "admin-token").read_text().strip() == token
        (data / "new.db").write_text("")  # what a child creates under the inherited umask
        assert mode(data / "new.db") == 0o600
    finally:
        os.umask(old_umask)


def test_services_create_their_files_private(tmp_path: Path) -> None:
    """chassis.serve sets the umask before the service opens its SQLite database."""
    script = (
        "import os, voltline_chassis.runner as r\n"
        "class Stop(Exception): pass\n"
        "def fake(*a, **k): raise Stop\n"
        "r.make_server = fake\n"
        "from voltline_chassis.settings import ServiceSettings\n"
        "try: r.serve(None, ServiceSettings(service_name='x', http_port=0))\n"
        "except Stop: pass\n"
        f"open({str(tmp_path / 'db.sqlite')!r}, 'w').close()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=os.environ | {"VOLTLINE_LOG_JSON": "false"})
    assert mode(tmp_path / "db.sqlite") == 0o600
