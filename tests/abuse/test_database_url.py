"""The database URL is honoured whole: the answer path used to drop the URL's query, so
`?sslmode=require` connected without TLS. Every libpq parameter now reaches the connection."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from backline.store.database import Database
from tests.abuse.conftest import OFFICE, TWILIO, serve_env, signed_call, wait_for
from tests.processes import Server
from tests.support import add_number


def setting(url: str, name: str) -> str:
    connection = Database(url).connect()
    cursor = connection.cursor()
    cursor.execute(f"SELECT current_setting('{name}')")
    value = str(cursor.fetchone()[0])
    connection.close()
    return value


def test_every_libpq_parameter_in_the_url_reaches_the_answer_paths_connection(
    postgres_url: str,
) -> None:
    assert setting(postgres_url, "application_name") == "backline"
    assert setting(postgres_url, "statement_timeout") == "2s"  # backline's own, by default
    named = f"{postgres_url}?application_name=from-the-url&options=-c%20statement_timeout%3D1234"
    assert setting(named, "application_name") == "from-the-url"
    assert setting(named, "statement_timeout") == "1234ms"  # the URL's wins


def test_sslmode_require_is_honoured(postgres_url: str) -> None:
    if setting(postgres_url, "ssl") == "on":
        pytest.skip("this PostgreSQL server speaks TLS: the refusal below cannot happen")
    with pytest.raises(psycopg2.OperationalError, match="SSL"):
        Database(f"{postgres_url}?sslmode=require").connect()


def test_a_server_given_sslmode_require_never_talks_to_the_database_in_the_clear(
    postgres_url: str, tmp_path: Path
) -> None:
    if setting(postgres_url, "ssl") == "on":
        pytest.skip("this PostgreSQL server speaks TLS")
    add_number(postgres_url, TWILIO, OFFICE)
    server = Server(serve_env(f"{postgres_url}?sslmode=require", tmp_path / "state"), tmp_path)
    try:
        _call, status, _text = signed_call(server)
        assert status == 200  # answered all the same, and journaled
        wait_for(lambda: server.health()["journal_pending"] == 1)
        assert server.health()["database"] == "down"
    finally:
        server.stop()
    assert "SSL" in server.log.read_text()
