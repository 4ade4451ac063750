"""The table of numbers, settings, and the call log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "numbers",
        sa.Column("number", sa.String(20), primary_key=True),
        sa.Column(
            "client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("destinations", sa.Text, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False, server_default="simultaneous"),
        sa.Column("ring_timeout", sa.Integer, nullable=False, server_default="30"),
        sa.Column("caller_id", sa.String(40), nullable=False, server_default="twilio-number"),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("voice", sa.String(64), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("account_sid", sa.String(64), nullable=False, server_default=""),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("direction", sa.String(32), nullable=False, server_default=""),
        sa.Column("error_code", sa.String(16), nullable=False, server_default=""),
        sa.Column("error_url", sa.Text, nullable=False, server_default=""),
        sa.Column("client", sa.String(200), nullable=True),
        sa.Column("route_kind", sa.String(16), nullable=False),
        sa.Column("destinations", sa.Text, nullable=False, server_default="[]"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration", sa.Integer, nullable=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_calls_created_at", "calls", ["created_at"])
    op.create_table(
        "legs",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("destinations", sa.Text, nullable=False, server_default="[]"),
        sa.Column("dial_call_sid", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration", sa.Integer, nullable=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("fanned_out", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_events_pending", "events", ["fanned_out", "created_at"])


def downgrade() -> None:
    for table in ("events", "legs", "calls", "settings", "numbers", "clients"):
        op.drop_table(table)
