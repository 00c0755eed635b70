"""`make run`'s admin token: always readable in data/admin-token, whichever way it was chosen."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from voltline_devinfra.run import admin_token


def test_a_token_from_the_environment_is_written_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTLINE_ADMIN_TOKEN", "chosen-by-the-operator-0123")
    (tmp_path / "admin-token").write_text("an-older-token\n")
    assert admin_token(tmp_path) == "chosen-by-the-operator-0123"
    path = tmp_path / "admin-token"
    assert path.read_text() == "chosen-by-the-operator-0123\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_the_variable_the_stored_token_is_kept_or_one_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOLTLINE_ADMIN_TOKEN", raising=False)
    generated = admin_token(tmp_path)
    assert len(generated) >= 32 and (tmp_path / "admin-token").read_text() == generated + "\n"
    assert admin_token(tmp_path) == generated
