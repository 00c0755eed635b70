"""A service's autogenerate workflow: define_outbox_tables + UTCDateTime in its metadata, the shared env.py."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from alembic import command
from voltline_store import alembic_config, run_migrations

ENV_PY = """
import sqlalchemy as sa
from voltline_store import UTCDateTime, define_outbox_tables
from voltline_store.alembic_env import run

metadata = sa.MetaData()
define_outbox_tables(metadata)
sa.Table("chargers", metadata, sa.Column("id", sa.String(48), primary_key=True), sa.Column("seen_at", UTCDateTime()))
run(target_metadata=metadata)
"""


def test_autogenerate_renders_plain_types_and_then_finds_nothing_to_do(
    sqlite_url: str, migrations_dir: Path, tmp_path: Path
) -> None:
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    shutil.copy(migrations_dir / "script.py.mako", scripts / "script.py.mako")
    config = alembic_config(sqlite_url, scripts)

    command.revision(config, message="initial", autogenerate=True, rev_id="0001")
    [generated] = (scripts / "versions").glob("0001_*.py")
    source = generated.read_text()
    assert "op.create_table('outbox'" in source and "op.create_table('inbox'" in source
    assert "sa.DateTime(timezone=True)" in source
    assert "UTCDateTime" not in source and "voltline_store" not in source
    assert "ix_outbox_unpublished" in source

    asyncio.run(run_migrations(sqlite_url, scripts))
    command.revision(config, message="nothing", autogenerate=True, rev_id="0002")
    [second] = (scripts / "versions").glob("0002_*.py")
    assert "op." not in second.read_text()  # the migrated database matches the metadata exactly
