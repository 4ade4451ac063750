"""The results of `backline drill`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("numbers", sa.Integer, nullable=False),
        sa.Column("channels", sa.Integer, nullable=False),
        sa.Column("failures", sa.Text, nullable=False, server_default="[]"),
        sa.Column("report", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_table("drills")
