"""The local outbox's tables come from backline/store/schema.py."""

from __future__ import annotations

import sqlite3

from backline.notify.local_schema import STATEMENTS
from backline.store.schema import channels, deliveries, events, local_outbox_statements


def test_the_local_outbox_statements_are_the_ones_the_schema_gives() -> None:
    # When this fails after a change to backline/store/schema.py: python -m backline.store.schema
    assert local_outbox_statements() == STATEMENTS


def test_the_local_outbox_has_every_column_of_the_database_tables_it_copies() -> None:
    connection = sqlite3.connect(":memory:")
    for statement in STATEMENTS:
        connection.execute(statement)
    for table in (events, deliveries, channels):
        local = {row[1] for row in connection.execute(f"PRAGMA table_info({table.name})")}
        expected = {column.name for column in table.columns} - {"client_id"}
        assert expected <= local, table.name
    extra = {row[1] for row in connection.execute("PRAGMA table_info(channels)")}
    assert {"client", "synced"} <= extra
