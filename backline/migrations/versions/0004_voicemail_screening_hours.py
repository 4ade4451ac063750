"""Voicemail, call screening, office hours and closed days, better ringing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Every new column of numbers is nullable: NULL means "the global setting", so existing numbers
# keep answering exactly as before.
def _number_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("when_unanswered", sa.String(16), nullable=True),
        sa.Column("screen", sa.Boolean, nullable=True),
        sa.Column("hours", sa.Text, nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("closed_on", sa.Text, nullable=True),
        sa.Column("holidays", sa.String(16), nullable=True),
        sa.Column("holiday_dates", sa.Text, nullable=True),
        sa.Column("when_closed", sa.String(40), nullable=True),
        sa.Column("closed_message", sa.Text, nullable=True),
        sa.Column("answer_on_bridge", sa.Boolean, nullable=True),
        sa.Column("ring_tone", sa.String(8), nullable=True),
        sa.Column("voicemail_max_length", sa.Integer, nullable=True),
        sa.Column("transcribe", sa.Boolean, nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("numbers") as batch:
        for column in _number_columns():
            batch.add_column(column)
    op.create_table(
        "voicemails",
        sa.Column("recording_sid", sa.String(64), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("from_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("client", sa.String(200), nullable=True),
        sa.Column("recording_url", sa.Text, nullable=False, server_default=""),
        sa.Column("duration", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default=""),
        sa.Column("transcription", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_voicemails_call_sid", "voicemails", ["call_sid"])
    op.create_table(
        "screenings",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("parent_call_sid", sa.String(64), nullable=False, server_default=""),
        sa.Column("to_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("destination", sa.String(64), nullable=False, server_default=""),
        sa.Column("digits", sa.String(16), nullable=False, server_default=""),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("screenings")
    op.drop_index("ix_voicemails_call_sid", table_name="voicemails")
    op.drop_table("voicemails")
    with op.batch_alter_table("numbers") as batch:
        for column in reversed(_number_columns()):
            batch.drop_column(column.name)
