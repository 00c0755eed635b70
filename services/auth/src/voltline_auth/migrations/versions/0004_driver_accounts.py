"""Drivers' accounts: sign-in, one-time secrets (confirmation, reset, refresh), token signing keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "driver_accounts",
        sa.Column("driver_id", sa.String(36), sa.ForeignKey("drivers.driver_id"), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "driver_secrets",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("driver_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
    )
    op.create_index("ix_driver_secrets_driver_id", "driver_secrets", ["driver_id"])
    op.create_table(
        "driver_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("driver_signing_keys")
    op.drop_index("ix_driver_secrets_driver_id", "driver_secrets")
    op.drop_table("driver_secrets")
    op.drop_table("driver_accounts")
