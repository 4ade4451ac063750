"""The tables, described once. Alembic migrations are written against this module.

Timestamps are ISO-8601 UTC strings (``2026-11-24T05:00:00.123456Z``): they sort correctly as
text, read the same on SQLite and PostgreSQL, and the answer path can write them through plain
DB-API drivers without type adapters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
)

numbers = Table(
    "numbers",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id", ondelete="SET NULL"), nullable=True),
    # Ordered destinations as a JSON list of E.164 numbers or sip: URIs.
    Column("destinations", Text, nullable=False),
    Column("mode", String(16), nullable=False, server_default="simultaneous"),
    Column("ring_timeout", Integer, nullable=False, server_default="30"),
    Column("caller_id", String(40), nullable=False, server_default="twilio-number"),
    Column("message", Text, nullable=True),
    Column("language", String(16), nullable=True),
    Column("voice", String(64), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    # NULL in any column below: the global setting applies.
    Column("when_unanswered", String(16), nullable=True),
    Column("screen", Boolean, nullable=True),
    # Office hours as a JSON list of specs ("mon-fri 09:00-18:00"), read in ``timezone``.
    Column("hours", Text, nullable=True),
    Column("timezone", String(64), nullable=True),
    # Closed days: a JSON list of YYYY-MM-DD; ``holidays`` names a country's public holidays,
    # which the management side expands into ``holiday_dates`` (the answer path reads dates).
    Column("closed_on", Text, nullable=True),
    Column("holidays", String(16), nullable=True),
    Column("holiday_dates", Text, nullable=True),
    Column("when_closed", String(40), nullable=True),
    Column("closed_message", Text, nullable=True),
    Column("answer_on_bridge", Boolean, nullable=True),
    Column("ring_tone", String(8), nullable=True),
    Column("voicemail_max_length", Integer, nullable=True),
    Column("transcribe", Boolean, nullable=True),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("account_sid", String(64), nullable=False, server_default=""),
    Column("to_number", String(64), nullable=False),
    Column("from_number", String(64), nullable=False, server_default=""),
    Column("direction", String(32), nullable=False, server_default=""),
    Column("error_code", String(16), nullable=False, server_default=""),
    Column("error_url", Text, nullable=False, server_default=""),
    Column("client", String(200), nullable=True),
    Column("route_kind", String(16), nullable=False),
    Column("destinations", Text, nullable=False, server_default="[]"),
    Column("outcome", String(16), nullable=False),
    Column("duration", Integer, nullable=True),
    # The TwiML given to Twilio, returned again when Twilio retries the same CallSid.
    Column("answer", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_calls_created_at", "created_at"),
)

# No foreign key to calls: a leg recorded directly may reach the database before its call is
# replayed from a journal, and recording must never be refused for the order things arrive in.
legs = Table(
    "legs",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("destinations", Text, nullable=False, server_default="[]"),
    Column("dial_call_sid", String(64), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("duration", Integer, nullable=True),
    Column("answer", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# The messages callers left (one per <Record>), as Twilio's recording status request told them:
# status "completed" (the recording is at ``recording_url``) or "absent" (nothing was said).
voicemails = Table(
    "voicemails",
    metadata,
    Column("recording_sid", String(64), primary_key=True),
    Column("call_sid", String(64), nullable=False),
    Column("to_number", String(64), nullable=False, server_default=""),
    Column("from_number", String(64), nullable=False, server_default=""),
    Column("client", String(200), nullable=True),
    Column("recording_url", Text, nullable=False, server_default=""),
    Column("duration", Integer, nullable=True),
    Column("status", String(16), nullable=False, server_default=""),
    Column("transcription", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_voicemails_call_sid", "call_sid"),
)

# The key pressed on each screened leg that was picked up (``call_sid`` is the leg's own call,
# which the dial outcome carries as DialCallSid): which destination took the call.
screenings = Table(
    "screenings",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("parent_call_sid", String(64), nullable=False, server_default=""),
    Column("to_number", String(64), nullable=False, server_default=""),
    Column("destination", String(64), nullable=False, server_default=""),
    Column("digits", String(16), nullable=False, server_default=""),
    Column("accepted", Boolean, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# What happened, for the notification dispatcher: one "diverted" and one "outcome" event per
# call at most (the id is "<CallSid>:<kind>"), written in the same transaction as the call.
events = Table(
    "events",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("call_sid", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("fanned_out", Boolean, nullable=False, server_default=false()),
    Index("ix_events_pending", "fanned_out", "created_at"),
)

# Where the team is told: a Slack (or Mattermost) webhook, an on-call phone, a mailbox, a
# generic webhook. ``client_id`` NULL means every call; otherwise only that client's calls.
# The dispatcher keeps its per-channel state here too: the grouping of an outage (``state``,
# JSON), when it may send next (pacing and backoff), and a lease while one dispatcher sends.
channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("label", String(200), nullable=True),
    Column("client_id", Integer, ForeignKey("clients.id", ondelete="CASCADE"), nullable=True),
    Column("options", Text, nullable=False, server_default="{}"),
    Column("failing", Text, nullable=True),
    Column("failing_since", String(32), nullable=True),
    Column("state", Text, nullable=False, server_default="{}"),
    Column("next_send_at", String(32), nullable=False, server_default=""),
    Column("wake_at", String(32), nullable=False, server_default=""),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", String(32), nullable=True),
    Column("last_success_at", String(32), nullable=True),
    Column("last_failure_at", String(32), nullable=True),
    Column("last_result", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
)

# One row per event (or alert) and channel. The id is "<event id>@<channel id>", so fanning an
# event out twice (a retry, a replayed journal) never makes a second delivery.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    # pending -> sent | failed (the channel stopped) | dead (this message given up: refused by
    # the receiver, or too many attempts; ``error`` says why, ``sent_at`` says when); "local" =
    # delivered by the process that journaled the call while the database was down (see
    # backline/notify/local.py).
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_deliveries_channel_status", "channel_id", "status", "created_at"),
)

# The results of `backline drill`, newest last. The service shows the latest in /healthz.
drills = Table(
    "drills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=False),
    Column("url", Text, nullable=False, server_default=""),
    Column("ok", Boolean, nullable=False),
    Column("numbers", Integer, nullable=False),
    Column("channels", Integer, nullable=False),
    # JSON: the failing numbers and "channel #N", as /healthz shows them.
    Column("failures", Text, nullable=False, server_default="[]"),
    # JSON: the whole report, as `backline drill --json` prints it.
    Column("report", Text, nullable=False, server_default="{}"),
)

# Who may use the REST API and the web admin: bearer tokens (only a SHA-256 of each is kept; the
# token itself is shown once, when it is made) and people who sign in with a password (an
# Argon2id hash). A read-only token or user may look but not change anything.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("read_only", Boolean, nullable=False, server_default=false()),
    Column("created_at", String(32), nullable=False),
    Column("last_used_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
)

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("read_only", Boolean, nullable=False, server_default=false()),
    Column("created_at", String(32), nullable=False),
)

# Signed-in web sessions: the cookie holds a random id, only its SHA-256 is kept here, with the
# form token (CSRF) of the session.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("actor", String(200), nullable=False),
    Column("read_only", Boolean, nullable=False, server_default=false()),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)

# Every change made through the API, the web admin or the command line: who, what, the values
# before and after (JSON, null for a creation or a removal), and when.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(8), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False, server_default=""),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Index("ix_audit_log_at", "at"),
)

# The last `backline twilio audit` (one row, replaced by each audit): when, the fallback URL it
# looked for, how many numbers the account has, and (JSON) those not protected: each number,
# its status (fallback missing, fallback elsewhere, no route) and why.
twilio_coverage = Table(
    "twilio_coverage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("fallback_url", Text, nullable=False),
    Column("numbers", Integer, nullable=False),
    Column("uncovered", Text, nullable=False),
)

# -- the local outbox ----------------------------------------------------------------------------
# While the database is down, the serving process tells the team from a SQLite file next to the
# journal (backline/notify/local.py): the same events, channels and deliveries, except that a
# channel names its client (there is no clients table there) and says whether its results
# have been copied to the database (``synced``), and a small key-value table. The tables are
# built from the ones above. The serving process does not load SQLAlchemy, so their statements
# are kept as text in backline/notify/local_schema.py, written by ``python -m
# backline.store.schema`` and compared with these tables by a test.

local_metadata = MetaData()


def _local_copy(
    table: Table, *, without: tuple[str, ...] = (), more: tuple[Column[Any], ...] = ()
) -> Table:
    # Columns as they are, without foreign keys: the outbox has no clients, and deleting a
    # channel there must not take its deliveries along, as it does not in the database.
    columns = [
        Column(
            column.name,
            column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
            server_default=None if column.server_default is None else column.server_default.arg,  # type: ignore[attr-defined]
        )
        for column in table.columns
        if column.name not in without
    ]
    indexes = [
        Index(index.name, *(column.name for column in index.columns)) for index in table.indexes
    ]
    return Table(table.name, local_metadata, *columns, *more, *indexes)


local_events = _local_copy(events)
local_channels = _local_copy(
    channels,
    without=("client_id",),
    more=(
        Column("client", Text, nullable=True),
        Column("synced", Boolean, nullable=False, server_default=true()),
    ),
)
local_deliveries = _local_copy(deliveries)
local_meta = Table(
    "meta",
    local_metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# Any change to a channel's results marks it for copying to the main database.
LOCAL_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS channels_results AFTER UPDATE OF last_success_at,
        last_failure_at, failing ON channels
        WHEN NEW.last_success_at IS NOT OLD.last_success_at
          OR NEW.last_failure_at IS NOT OLD.last_failure_at
          OR (NEW.failing IS NOT NULL AND OLD.failing IS NULL)
        BEGIN UPDATE channels SET synced = 0 WHERE id = NEW.id; END""",
)


def local_outbox_statements() -> tuple[str, ...]:
    """The SQLite statements that create the local outbox, if it does not exist yet."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    statements: list[str] = []
    for table in local_metadata.sorted_tables:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        statements.extend(
            str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
            for index in sorted(table.indexes, key=lambda index: str(index.name))
        )
    statements.extend(LOCAL_TRIGGERS)
    return tuple(" ".join(statement.split()) for statement in statements)


def local_schema_module() -> str:
    """The text of backline/notify/local_schema.py."""
    lines = [
        '"""The local outbox\'s tables (see backline/notify/local.py), as SQLite statements.',
        "",
        "Written by ``python -m backline.store.schema`` from the tables of",
        'backline/store/schema.py (a test fails when they differ): not to be edited by hand."""',
        "",
        "# ruff: noqa: E501",
        "",
        "STATEMENTS = (",
    ]
    for statement in local_outbox_statements():
        lines.append(f"    {statement!r},")
    lines.append(")")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    Path(__file__).parents[1].joinpath("notify", "local_schema.py").write_text(
        local_schema_module(), encoding="utf-8"
    )
