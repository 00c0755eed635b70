"""Headless Chromium and its chromedriver from Debian's packages, for the console's browser tests.

Selenium (a dev dependency) drives them; its own driver download is never used (the paths are given), and
the tooling installs `chromium` and `chromium-driver` itself when root, as it does PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from voltline_devinfra._system import is_root, require_tool


def chromium_binary() -> str:
    return require_tool("chromium", "chromium")


def chromedriver_binary() -> str:
    return require_tool("chromedriver", "chromium-driver")


def chromium_arguments(width: int = 1280, height: int = 900) -> list[str]:
    """Headless, a fixed window, no first-run prompts; without the sandbox only where it cannot work (root)."""
    args = [
        "--headless=new",
        f"--window-size={width},{height}",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--password-store=basic",
    ]
    if is_root():
        args.append("--no-sandbox")
    return args


def output_dir(*parts: str) -> Path:
    """Where tests leave files for people to look at (screenshots): VOLTLINE_TEST_OUTPUT_DIR, else ./test-output."""
    base = Path(os.environ.get("VOLTLINE_TEST_OUTPUT_DIR") or Path.cwd() / "test-output")
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
