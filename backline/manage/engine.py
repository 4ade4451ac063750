"""Opening the database for the management side, and its transactions.

Every write is one :func:`transaction`: a write that fails, for whatever reason, changes
nothing, and surfaces as a :class:`~backline.manage.errors.ManageError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from backline.config import shown_database
from backline.core.redact import mask_password
from backline.manage.errors import AlreadyExists, DatabaseError, SchemaMissing
from backline.store.database import private_file

__all__ = [
    "check_schema",
    "in_one_transaction",
    "make_engine",
    "open_database",
    "reading",
    "transaction",
]

# The tables the management side works on; a database without them has not been upgraded.
_TABLES = ("clients", "numbers", "settings", "calls", "legs")


def make_engine(database_url: str) -> Engine:
    """An engine for short management sessions; SQLite gets the same pragmas as the answer path."""
    if database_url.startswith("sqlite"):
        # No folder is created here: `backline db upgrade` decides that, and says so. The file
        # is, readable by this user only, before SQLAlchemy would create it with the default
        # mode: it holds callers' numbers.
        path = database_url.removeprefix("sqlite:///")
        if (
            path
            and path != ":memory:"
            and database_url != "sqlite://"
            and Path(path).parent.is_dir()
        ):
            private_file(Path(path))
        engine = create_engine(database_url, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": 5})


def _reason(error: BaseException) -> str:
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines()
    return lines[0] if lines else type(origin).__name__


def _upgrade_first(database_url: str) -> SchemaMissing:
    return SchemaMissing(
        f"the database {shown_database(database_url)} has no backline tables yet; "
        f"run `backline db upgrade` first"
    )


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaMissing` without the tables, :class:`DatabaseError` if unreachable."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
    except sa_exc.DBAPIError as error:
        reason = mask_password(_reason(error))
        raise DatabaseError(f"cannot reach the database {shown_database(url)}: {reason}") from None
    if not set(_TABLES) <= present:
        raise _upgrade_first(url)


def open_database(database_url: str) -> Engine:
    """An engine for ``database_url`` whose tables are known to exist.

    A SQLite file that does not exist is reported as missing tables, not silently created.
    """
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path and not path.startswith(":memory:") and not Path(path).exists():
            raise _upgrade_first(database_url)
    try:
        engine = make_engine(database_url)
    except (sa_exc.ArgumentError, ValueError, ImportError) as error:
        shown = shown_database(database_url)
        reason = mask_password(str(error))
        raise DatabaseError(f"cannot use the database URL {shown}: {reason}") from None
    check_schema(engine)
    return engine


@contextmanager
def transaction(engine: Engine, *, conflict: str = "") -> Iterator[Connection]:
    """One transaction; any failure rolls it back and surfaces as a ManageError.

    ``conflict`` is the message for a unique key broken by a concurrent writer between the
    check and the write (the checks inside the transaction catch everything else).
    """
    try:
        with engine.begin() as connection:
            yield connection
    except sa_exc.IntegrityError as error:
        if conflict:
            raise AlreadyExists(conflict) from None
        raise DatabaseError(f"the database refused the change: {_reason(error)}") from error
    except sa_exc.DBAPIError as error:
        raise DatabaseError(f"the database refused the change: {_reason(error)}") from error


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; a database that fails surfaces as DatabaseError."""
    try:
        with engine.connect() as connection:
            yield connection
    except sa_exc.DBAPIError as error:
        raise DatabaseError(f"cannot read the database: {_reason(error)}") from error


class _InOneTransaction:
    """Hands the management functions one open connection wherever they would open their own.

    Each of them is written as its own transaction (``engine.begin()``) or read
    (``engine.connect()``); given this in place of the engine, all of them run inside the one
    transaction the caller opened, so what they write is written whole or not at all.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.url = connection.engine.url
        self.dialect = connection.dialect

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._connection


def in_one_transaction(connection: Connection) -> Engine:
    """An engine-like object whose every transaction and read is ``connection``'s transaction."""
    return cast("Engine", _InOneTransaction(connection))
