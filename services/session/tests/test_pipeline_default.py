"""Pipelined partitions (ADR 0031) are on by default for PostgreSQL and off for SQLite, whose one writer takes the
batches in turn anyway (bench/RESULTS.md, thirteenth round); the setting still decides when given."""

from __future__ import annotations

import pytest
from voltline_session.settings import SessionSettings

PG = "postgresql+asyncpg://u@h/db"
LITE = "sqlite+aiosqlite:///./data/session.db"


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [(PG, None, True), (LITE, None, False), (LITE, True, True), (PG, False, False)],
    ids=["postgresql", "sqlite", "sqlite-asked-on", "postgresql-asked-off"],
)
def test_partitions_are_pipelined_by_default_on_postgresql_only(url: str, setting: bool | None, expected: bool) -> None:
    settings = SessionSettings(database_url=url, consumer_pipeline_partitions=setting)
    assert settings.pipelines_partitions() is expected


def test_the_default_store_sqlite_does_not_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOLTLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VOLTLINE_CONSUMER_PIPELINE_PARTITIONS", raising=False)
    assert SessionSettings().pipelines_partitions() is False
    monkeypatch.setenv("VOLTLINE_CONSUMER_PIPELINE_PARTITIONS", "true")
    assert SessionSettings().pipelines_partitions() is True
