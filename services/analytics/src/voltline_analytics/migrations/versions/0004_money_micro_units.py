"""money in contributions and buckets as integer micro-units (summed by the database on every dialect)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MONEY = ("revenue_excl_vat", "revenue_incl_vat", "refunds_excl_vat", "refunds_incl_vat")
TABLES = ("contributions", "buckets")


def _to_micro() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "CAST(ROUND(CAST({} AS NUMERIC) * 1000000) AS BIGINT)"  # exact
    # SQLite has no exact decimal: through a double, exact for the amounts billing writes (2 decimals, < 10^9).
    return "CAST(ROUND(CAST({} AS REAL) * 1000000) AS INTEGER)"


def _convert(to_new: str, new_type: sa.types.TypeEngine, default: str) -> None:
    for table in TABLES:
        for name in MONEY:
            op.add_column(table, sa.Column(f"{name}_new", new_type, nullable=False, server_default=default))
            op.execute(f"UPDATE {table} SET {name}_new = {to_new.format(name)}")
        with op.batch_alter_table(table) as batch:
            for name in MONEY:
                batch.drop_column(name)
                batch.alter_column(f"{name}_new", new_column_name=name, existing_type=new_type, server_default=None,
                                   existing_nullable=False)  # fmt: skip


def upgrade() -> None:
    _convert(_to_micro(), sa.BigInteger(), "0")


def downgrade() -> None:
    _convert("CAST(CAST({} AS NUMERIC) / 1000000 AS VARCHAR(40))", sa.String(40), "0")
