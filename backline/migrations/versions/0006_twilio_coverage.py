"""The last `backline twilio audit`: when, and the numbers it found not protected.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twilio_coverage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("fallback_url", sa.Text, nullable=False),
        sa.Column("numbers", sa.Integer, nullable=False),
        sa.Column("uncovered", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("twilio_coverage")
