"""Rows from a company's own database: one SELECT, run read-only, on PostgreSQL or MySQL/MariaDB.

The client table stays where the landlines are kept; backline reads it (``SELECT twilio_number,
destination, client FROM ...``) and imports the rows like a file's. The query runs in a
read-only transaction (PostgreSQL: ``default_transaction_read_only``; MySQL/MariaDB:
``SET SESSION TRANSACTION READ ONLY``), which is rolled back afterwards, so a statement that
would write is refused by the database itself. The URL's password is never shown: keep it out
of the command line with ``PGPASSWORD``/``~/.pgpass`` (PostgreSQL) or an option file
(``?read_default_file=...``, MySQL/MariaDB).
"""

from __future__ import annotations

import re

from backline.core.redact import mask_password
from backline.imports.rows import MAX_ROWS, RawRow, SourceError, read_records

__all__ = ["driver_url", "read_query", "shown_url"]

_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "postgresql+psycopg2": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
# Seconds: connecting, and running the query.
CONNECT_TIMEOUT = 10
QUERY_TIMEOUT = 120


def driver_url(url: str) -> str:
    """``url`` with the driver backline uses for it; anything else is refused."""
    scheme, separator, rest = url.strip().partition("://")
    driver = _DRIVERS.get(scheme.lower())
    if not separator or driver is None:
        raise SourceError(
            "--from-sql takes a PostgreSQL or MySQL/MariaDB URL: "
            "postgresql://user@host:5432/database or mysql://user@host:3306/database"
        )
    return f"{driver}://{rest}"


def shown_url(url: str) -> str:
    """The URL as messages show it: without its password."""
    return mask_password(url.strip())


def _check_select(query: str) -> str:
    body = _LEADING_COMMENTS.sub("", query).strip()
    first = body.split(None, 1)[0].lower() if body else ""
    if first not in ("select", "with", "values", "table", "("):
        raise SourceError(
            "--query must be a SELECT: backline only reads the client table (the query runs "
            "in a read-only transaction)"
        )
    return query.strip().rstrip(";").strip()


def _reason(error: BaseException) -> str:
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines()
    if not lines:
        return type(origin).__name__
    # The server's words are data: one line, printable, short, and never a password it quotes.
    line = "".join(c for c in " ".join(lines[0].split()) if c.isprintable())
    return mask_password(line)[:300]


def read_query(url: str, query: str) -> list[RawRow]:
    """Run ``query`` read-only on the database at ``url``; its result as rows to import.

    The query goes to the driver as it is, without parameters, so that it means what it means
    in psql or mysql (a ``%`` in a LIKE is a percent sign, not a placeholder).
    """
    from sqlalchemy import create_engine
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.pool import NullPool

    statement = _check_select(query)
    full = driver_url(url)
    shown = shown_url(url)
    postgres = full.startswith("postgresql")
    if postgres:
        connect_args: dict[str, object] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c default_transaction_read_only=on "
            f"-c statement_timeout={QUERY_TIMEOUT * 1000}",
        }
    else:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": QUERY_TIMEOUT}
    try:
        engine = create_engine(full, poolclass=NullPool, connect_args=connect_args)
    except (sa_exc.ArgumentError, ImportError) as error:
        raise SourceError(f"cannot use the database URL {shown}: {_reason(error)}") from None
    driver_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except Exception as error:  # any driver's failure to connect, said in one line
        engine.dispose()
        raise SourceError(f"cannot reach the database {shown}: {_reason(error)}") from None
    try:
        cursor = connection.cursor()
        if not postgres:
            # Applies to the transactions that follow: end the one the SET itself may open.
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            connection.rollback()
        cursor.execute(statement)
        if cursor.description is None:
            raise SourceError("--query returned no rows to read: it must be a SELECT")
        columns = [str(column[0]) for column in cursor.description]
        records = cursor.fetchmany(MAX_ROWS + 1)
        if len(records) > MAX_ROWS:
            raise SourceError(f"the query returned more than {MAX_ROWS} rows")
        cursor.close()
    except driver_error as error:
        raise SourceError(f"the query failed on {shown}: {_reason(error)}") from None
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()
            engine.dispose()
    return read_records(columns, [tuple(record) for record in records])
