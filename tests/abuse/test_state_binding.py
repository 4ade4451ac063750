"""One state directory, one database.

Three calls journaled during a PostgreSQL outage used to be replayed into SQLite when the service
was restarted against it with the same state directory, and never reached PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from backline.manage.migrate import upgrade
from tests.abuse.conftest import OFFICE, TWILIO, run_backline, serve_env, signed_call, wait_for
from tests.processes import PrivatePostgres, Server
from tests.support import add_number, query


@pytest.mark.slow
def test_records_journaled_for_postgresql_are_never_replayed_into_sqlite(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    sqlite = f"sqlite:///{tmp_path}/backline.db"
    upgrade(sqlite)
    add_number(sqlite, TWILIO, OFFICE)
    state = tmp_path / "state"

    server = Server(serve_env(postgres.url, state), tmp_path)
    try:
        postgres.stop()
        journaled = [signed_call(server)[0]["CallSid"] for _ in range(3)]
        assert server.health()["journal_pending"] == 3
    finally:
        server.stop()

    # The easy path: the same state directory, another database.
    refused = run_backline(serve_env(sqlite, state), "serve", "--port", "1")
    assert refused.returncode == 2
    message = refused.stderr
    assert "3 call record(s) not yet written" in message
    assert f"127.0.0.1:{postgres.port}/postgres" in message and "backline.db" in message
    assert query(sqlite, "SELECT count(*) FROM calls") == [(0,)]

    shown = run_backline(serve_env(sqlite, state), "journal", "show")
    assert f"serves postgresql://127.0.0.1:{postgres.port}/postgres" in shown.stdout
    assert "3 call record(s) waiting" in shown.stdout

    # Against its own database again, they reach it.
    postgres.start()
    server = Server(serve_env(postgres.url, state), tmp_path)
    try:
        wait_for(lambda: server.health()["journal_pending"] == 0, what="the replay")
    finally:
        server.stop()
    stored = sorted(row[0] for row in query(postgres.url, "SELECT call_sid FROM calls"))
    assert stored == sorted(journaled)
    assert query(sqlite, "SELECT count(*) FROM calls") == [(0,)]


@pytest.mark.slow
def test_a_state_directory_with_nothing_waiting_moves_to_the_new_database(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """...and forgets the old database's table: a start while the new one is down must not
    forward calls by the old table."""
    trial = f"sqlite:///{tmp_path}/trial.db"
    upgrade(trial)
    add_number(trial, TWILIO, ("+81399999999",))
    upgrade(postgres.url)
    state = tmp_path / "state"
    Server(serve_env(trial, state), tmp_path).stop()
    assert (state / "snapshot.json").exists()

    postgres.stop()
    server = Server(serve_env(postgres.url, state), tmp_path)
    try:
        _call, status, text = signed_call(server)
        health = server.health()
    finally:
        server.stop()
    assert status == 200 and "+81399999999" not in text and "<Say" in text
    assert health["snapshot"]["source"] == "built-in"
    assert "now serves postgresql://" in server.log.read_text()
