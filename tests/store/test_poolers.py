"""Connection poolers between backline and PostgreSQL, as production puts them there.

RDS Proxy and PgBouncer refuse the ``options`` startup parameter that carries backline's
server-side timeouts: backline must connect all the same, or every call would go to the journal
for as long as it runs. Behind PgBouncer in transaction mode, the writer's prepared statement
is not where the next batch runs: no call may be lost for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from backline.store.database import Database, refuses_startup_options
from backline.store.records import Record
from backline.store.writer_process import BatchWriter
from tests.processes import PgBouncer
from tests.support import call_record, empty_postgres, new_call_sid, query


def setting(url: str, name: str) -> str:
    connection = Database(url).connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT current_setting('{name}')")
        return str(cursor.fetchone()[0])
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("hosts", "refuses"),
    [
        ("backline.proxy-c1a2b3c4d5e6.ap-northeast-1.rds.amazonaws.com", True),
        ("BACKLINE.PROXY-C1A2B3C4D5E6.AP-NORTHEAST-1.RDS.AMAZONAWS.COM.", True),
        ("reader.endpoint.proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com", True),
        ("backline.proxy-c1a2b3c4d5e6.cn-north-1.rds.amazonaws.com.cn", True),
        ("db1.example.com,backline.proxy-c1a2.eu-west-1.rds.amazonaws.com", True),
        ("backline.c1a2b3c4d5e6.ap-northeast-1.rds.amazonaws.com", False),  # the instance
        ("proxy-1.example.com", False),
        ("backline.proxy-c1a2.ap-northeast-1.rds.amazonaws.com.example.com", False),
        ("127.0.0.1", False),
        ("", False),
    ],
)
def test_pooler_endpoints_known_to_refuse_startup_options(hosts: str, refuses: bool) -> None:
    assert refuses_startup_options(hosts) is refuses


def test_an_rds_proxy_endpoint_is_sent_no_startup_options(postgres_url: str) -> None:
    """libpq connects to ``hostaddr`` and names the server by ``host``: here a proxy's name in
    front of the test server, which would have been sent the options."""
    assert setting(postgres_url, "statement_timeout") == "2s"
    parts = urlsplit(postgres_url)
    proxy = "backline.proxy-c1a2b3c4d5e6.ap-northeast-1.rds.amazonaws.com"
    user = parts.netloc.rsplit("@", 1)[0]
    named = urlunsplit(
        parts._replace(netloc=f"{user}@{proxy}:{parts.port or 5432}", query="hostaddr=127.0.0.1")
    )
    assert setting(named, "statement_timeout") == "0"  # the server's own default


@pytest.fixture
def pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(postgres_url)
    try:
        yield bouncer
    finally:
        bouncer.stop()


def test_behind_pgbouncer_backline_connects_without_startup_options(
    pgbouncer: PgBouncer, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(pgbouncer.url)
    with caplog.at_level(logging.WARNING, logger="backline.database"):
        connection = database.connect()
    connection.close()
    assert "refuses startup options" in caplog.text
    assert "ALTER ROLE" in caplog.text  # and says what to do instead
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="backline.database"):
        database.connect().close()
    assert caplog.text == ""  # said once, and asked once: the next connection goes straight


def test_behind_pgbouncer_in_transaction_mode_the_writer_loses_no_call(
    pgbouncer: PgBouncer, postgres_url: str
) -> None:
    empty_postgres(postgres_url)
    writer = BatchWriter(Database(pgbouncer.url, create=False))
    # Other clients keep several server connections busy, so that each of the writer's
    # transactions may go to another one (the pool hands them out in turn).
    dsn = "postgresql://" + pgbouncer.url.split("://", 1)[1]
    others = [psycopg2.connect(dsn) for _ in range(3)]
    written: list[Record] = []
    try:
        for _ in range(50):
            cursors = [other.cursor() for other in others]
            for cursor in cursors:
                cursor.execute("SELECT 1")
            for other in others:
                other.commit()
            batch: list[Record] = [call_record(new_call_sid()) for _ in range(3)]
            assert writer.write(batch) == [None, None, None]
            written += batch
            if not writer.prepared:
                break
        # The statement prepared on one server connection was not on the next: the writer
        # went on with the plain statement.
        assert not writer.prepared
        retried = call_record(written[0].call_sid)
        assert writer.write([retried]) == ["<Response/>"]  # a retry gets its first answer
    finally:
        writer.close(checkpoint=False)
        for other in others:
            other.close()
    stored = sorted(str(row[0]) for row in query(postgres_url, "SELECT call_sid FROM calls"))
    assert stored == sorted(record.call_sid for record in written)
