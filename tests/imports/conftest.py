"""A company's own client database, on real servers: PostgreSQL (127.0.0.1:5432, as the rest
of the suite) and MariaDB (127.0.0.1:3306, root without a password; BACKLINE_TEST_MARIADB_URL
overrides it). Each run makes a database of its own on each and drops it at the end. Without
a server that answers its half is skipped, unless BACKLINE_TEST_REQUIRE_MARIADB=1 (CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import POSTGRES_ADMIN_URL

MARIADB_ADMIN_URL = os.environ.get("BACKLINE_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/")
CLIENT_DATABASE = f"backline_clients_{os.getpid()}"


@dataclass
class ClientDatabase:
    """A database holding a client table, with a way to run SQL on it as its owner does."""

    kind: str
    url: str
    connect: Any

    def execute(self, *statements: str) -> None:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            connection.commit()
        finally:
            connection.close()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                return list(cursor.fetchall())
        finally:
            connection.close()


@pytest.fixture(scope="session")
def postgresql_clients() -> Iterator[ClientDatabase]:
    import psycopg2

    try:
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError:
        if os.environ.get("BACKLINE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but {POSTGRES_ADMIN_URL} does not answer")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_ADMIN_URL}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {CLIENT_DATABASE}")
        cursor.execute(f"CREATE DATABASE {CLIENT_DATABASE}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{CLIENT_DATABASE}"
    yield ClientDatabase("postgresql", url, lambda: psycopg2.connect(url))
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {CLIENT_DATABASE} WITH (FORCE)")
    admin.close()


def _mariadb_connect(database: str | None = None) -> Any:
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_ADMIN_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        connect_timeout=3,
    )


@pytest.fixture(scope="session")
def mariadb_clients() -> Iterator[ClientDatabase]:
    import pymysql

    try:
        admin = _mariadb_connect()
    except pymysql.err.OperationalError:
        if os.environ.get("BACKLINE_TEST_REQUIRE_MARIADB") == "1":
            pytest.fail(f"MariaDB is required but {MARIADB_ADMIN_URL} does not answer")
        pytest.skip(f"no MariaDB/MySQL server at {MARIADB_ADMIN_URL}")
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {CLIENT_DATABASE}")
        cursor.execute(f"CREATE DATABASE {CLIENT_DATABASE} CHARACTER SET utf8mb4")
    url = MARIADB_ADMIN_URL.rstrip("/") + f"/{CLIENT_DATABASE}"
    yield ClientDatabase("mariadb", url, lambda: _mariadb_connect(CLIENT_DATABASE))
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {CLIENT_DATABASE}")
    admin.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def client_db(request: pytest.FixtureRequest) -> ClientDatabase:
    """The client table as a company keeps it, freshly filled."""
    database: ClientDatabase = request.getfixturevalue(f"{request.param}_clients")
    database.execute(
        "DROP TABLE IF EXISTS clinics",
        "CREATE TABLE clinics (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
        "twilio_number VARCHAR(32), landline VARCHAR(32), active BOOLEAN NOT NULL)",
        "INSERT INTO clinics VALUES "
        "(1, 'Sakura Dental', '+815012345601', '03-1234-5601', TRUE), "
        "(2, 'Aoi Clinic', '+81 50-1234-5602', '+81698765602', TRUE), "
        "(3, '100% Smile', '050-1234-5603', '06-9876-5603', TRUE), "
        "(4, 'Closed Clinic', '+815012345604', '03-1234-5604', FALSE)",
    )
    return database
