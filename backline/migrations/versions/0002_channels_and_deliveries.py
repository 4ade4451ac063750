"""Notification channels and their deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column(
            "client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("failing", sa.Text, nullable=True),
        sa.Column("failing_since", sa.String(32), nullable=True),
        sa.Column("state", sa.Text, nullable=False, server_default="{}"),
        sa.Column("next_send_at", sa.String(32), nullable=False, server_default=""),
        sa.Column("wake_at", sa.String(32), nullable=False, server_default=""),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.String(32), nullable=True),
        sa.Column("last_success_at", sa.String(32), nullable=True),
        sa.Column("last_failure_at", sa.String(32), nullable=True),
        sa.Column("last_result", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_deliveries_channel_status", "deliveries", ["channel_id", "status", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("channels")
