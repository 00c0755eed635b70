"""Host-level helpers: cache location and installing missing Debian packages.

Developer and CI machines start from the same image but nothing installed by hand
survives a machine change, so the tooling installs what it needs itself (when root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

_apt_lock = threading.Lock()
_apt_updated = False


def cache_dir() -> Path:
    """Base cache dir for downloaded artefacts; outside git so fetches happen once per machine."""
    override = os.environ.get("VOLTLINE_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "voltline"


def is_root() -> bool:
    """True when we may install packages and must drop privileges for PostgreSQL."""
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """Install Debian packages non-interactively (root only); raises with apt's output tail."""
    global _apt_updated
    if not is_root():
        raise RuntimeError(f"missing {', '.join(packages)}: install them (apt-get install {' '.join(packages)})")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"missing {', '.join(packages)} and no apt-get to install them with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _apt_lock:
        steps = [] if _apt_updated else [["apt-get", "update"]]
        steps.append(["apt-get", "install", "-y", "--no-install-recommends", *packages])
        for cmd in steps:
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
                raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{tail}")
        _apt_updated = True


def require_tool(name: str, apt_package: str) -> str:
    """Path of executable ``name``, installing ``apt_package`` first if it is missing."""
    path = shutil.which(name)
    if path is None:
        apt_install(apt_package)
        path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} still not found after installing {apt_package}")
    return path
