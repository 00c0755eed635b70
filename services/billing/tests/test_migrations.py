"""The migrations create exactly the tables the code uses (autogenerate finds nothing to do), on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from voltline_billing.bootstrap import MIGRATIONS
from voltline_store import alembic_config, run_migrations


def test_migrations_match_the_tables(pg_url: str, tmp_path: Path) -> None:
    asyncio.run(run_migrations(pg_url, MIGRATIONS))
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        (scripts / name).write_text((MIGRATIONS / name).read_text())
    for version in (MIGRATIONS / "versions").glob("*.py"):
        (scripts / "versions" / version.name).write_text(version.read_text())
    command.revision(alembic_config(pg_url, scripts), message="check", autogenerate=True, rev_id="9999")
    [generated] = (scripts / "versions").glob("9999_*.py")
    body = generated.read_text().split("def upgrade() -> None:")[1]
    assert "op." not in body, body
