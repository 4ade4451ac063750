"""`numbers import --from-sql`: routes from a company's own client table, on real PostgreSQL
and MariaDB servers, read-only, then the same checked, diffed import as a file's."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner, Result

from backline.cli import app
from backline.core.models import Route
from backline.imports.rows import SourceError
from backline.imports.sql import read_query
from tests.cli import answer_table
from tests.imports.conftest import ClientDatabase

runner = CliRunner()
QUERY = (
    "SELECT twilio_number, landline AS destination, name AS client FROM clinics "
    "WHERE active AND name LIKE '%' ORDER BY id"
)


def run(database_url: str, client_db: ClientDatabase, *args: str, query: str = QUERY) -> Result:
    return runner.invoke(
        app,
        [
            "numbers",
            "import",
            "--from-sql",
            client_db.url,
            "--query",
            query,
            *args,
            "--database-url",
            database_url,
        ],
        env={"BACKLINE_DEFAULT_REGION": "JP"},
    )


def test_the_table_follows_the_client_database(
    database_url: str, client_db: ClientDatabase
) -> None:
    first = run(database_url, client_db)

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == (
        "imported: 3 added, 0 changed, 0 removed, 0 unchanged, 3 new clients"
    )
    routes, _ = answer_table(database_url)
    assert routes == {
        "+815012345601": Route("+815012345601", ("+81312345601",), client="Sakura Dental"),
        "+815012345602": Route("+815012345602", ("+81698765602",), client="Aoi Clinic"),
        "+815012345603": Route("+815012345603", ("+81698765603",), client="100% Smile"),
    }

    # The landline is changed where it is kept, a clinic leaves: the next run follows.
    client_db.execute(
        "UPDATE clinics SET landline = '03-1234-9999' WHERE id = 1",
        "DELETE FROM clinics WHERE id = 2",
    )
    second = run(database_url, client_db, "--prune")
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines() == [
        "~ +815012345601",
        "    forward to: +81312345601 -> +81312349999",
        "- +815012345602 (was forwarded to +81698765602)",
        "imported: 0 added, 1 changed, 1 removed, 1 unchanged",
    ]

    third = run(database_url, client_db, "--prune")
    assert third.stdout == "nothing to change: 0 added, 0 changed, 0 removed, 2 unchanged\n"
    assert set(answer_table(database_url)[0]) == {"+815012345601", "+815012345603"}


def test_a_bad_row_in_the_client_table_is_named_and_nothing_is_written(
    sqlite_url: str, client_db: ClientDatabase
) -> None:
    client_db.execute("UPDATE clinics SET landline = 'ask reception' WHERE id = 3")

    result = run(sqlite_url, client_db)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(
        "error: result row 3, destinations: destination 'ask reception' is not a phone number"
    )
    assert answer_table(sqlite_url)[0] == {}


def test_the_query_only_reads(client_db: ClientDatabase) -> None:
    writes = {
        # A data-modifying CTE looks like a SELECT; the read-only transaction refuses it.
        "postgresql": "WITH gone AS (DELETE FROM clinics RETURNING *) "
        "SELECT twilio_number, landline AS destination FROM gone",
        # Locking rows is refused in a read-only transaction too.
        "mariadb": "SELECT twilio_number, landline AS destination FROM clinics FOR UPDATE",
    }
    with pytest.raises(SourceError, match=r"read-only|READ ONLY"):
        read_query(client_db.url, writes[client_db.kind])
    with pytest.raises(SourceError, match="--query must be a SELECT"):
        read_query(client_db.url, "/* tidy */ DELETE FROM clinics")
    with pytest.raises(SourceError, match="the query failed on"):
        read_query(client_db.url, "SELECT 1 AS number, 2 AS destinations; DELETE FROM clinics")
    assert len(client_db.rows("SELECT id FROM clinics")) == 4


def test_errors_say_what_failed_without_the_password(client_db: ClientDatabase) -> None:
    with pytest.raises(SourceError) as bad_query:
        read_query(client_db.url, "SELECT twilio_number FROM no_such_table")
    assert "the query failed on" in str(bad_query.value)
    assert "no_such_table" in str(bad_query.value)

    with pytest.raises(SourceError, match="column 'id' is not one backline imports"):
        read_query(client_db.url, "SELECT * FROM clinics")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scheme = client_db.url.split("://")[0]
    with pytest.raises(SourceError) as unreachable:
        read_query(f"{scheme}://someone:hunter2@127.0.0.1:{port}/x", "SELECT 1")
    assert str(unreachable.value).startswith(
        f"cannot reach the database {scheme}://someone:***@127.0.0.1:{port}/x: "
    )
    assert "hunter2" not in str(unreachable.value)
