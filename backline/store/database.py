"""Lean DB-API access for the answer path: sqlite3 or psycopg2, short timeouts, no ORM.

SQLAlchemy takes ~210 ms to import, more than the whole cold answer may take, so the answer path
speaks plain DB-API. Statements are written once with ``:name`` parameters and translated for
psycopg2's ``%(name)s`` style.

A PostgreSQL URL is handed to libpq whole, so every parameter in its query (``sslmode``,
``sslrootcert``, ``target_session_attrs``, several hosts...) is honoured; backline only adds its
timeouts where the URL sets none. SQLite files and their directories are created readable by
the service's user only: they hold callers' numbers.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from backline.core.times import iso

log = logging.getLogger("backline.database")

__all__ = [
    "Connection",
    "Database",
    "connect_sqlite",
    "private_directory",
    "private_file",
    "refuses_startup_options",
    "startup_options_refused",
    "utc_now",
]


# backline's own server-side limits go in the `options` startup parameter, which some
# connection poolers refuse outright. Endpoints known to refuse it, by host name, get none;
# any other server that refuses it is asked again without (see _connect_postgresql).
_NO_STARTUP_OPTIONS_HOSTS = (
    # RDS Proxy: <proxy>.proxy-<id>.<region>.rds.amazonaws.com, and custom endpoints below it.
    re.compile(r"(^|\.)proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?$"),
)
# How poolers word that refusal: PgBouncer before 1.20, PgBouncer since (an option it does not
# track), RDS Proxy.
_STARTUP_OPTIONS_REFUSED = (
    "unsupported startup parameter: options",
    "unsupported options startup parameter",
    "support command-line options",
)


def refuses_startup_options(hosts: str) -> bool:
    """Whether one of ``hosts`` (libpq's ``host``, comma-separated) is a pooler endpoint known
    to refuse the ``options`` startup parameter."""
    names = [name.strip().lower().rstrip(".") for name in hosts.split(",")]
    return any(pattern.search(name) for pattern in _NO_STARTUP_OPTIONS_HOSTS for name in names)


def startup_options_refused(error: BaseException) -> bool:
    """Whether a failed connection says the server will not take startup options."""
    text = str(error).lower()
    return any(wording in text for wording in _STARTUP_OPTIONS_REFUSED)


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def utc_now(now: float | None = None) -> str:
    """The timestamp format of every table: ISO-8601 UTC with microseconds and a Z."""
    return iso(time.time() if now is None else now)


_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


# SQLite before 3.32 allows at most 999 parameters in a statement (newer ones 32,766).
_SQLITE_MAX_VARIABLES = 999
_POSTGRES_ROWS_PER_STATEMENT = 256


@lru_cache(maxsize=512)
def _multi_row_insert(table: str, columns: tuple[str, ...], unless_exists: str, count: int) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...), ... ON CONFLICT DO NOTHING`` for ``count``
    rows (the same text for the same shape, so sqlite3's statement cache reuses it)."""
    row = "(" + ", ".join("?" * len(columns)) + ")"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({unless_exists}) DO NOTHING"
    )


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def private_directory(path: Path) -> None:
    """Create ``path`` and any missing parent, each readable by this user only (0700).

    Directories that exist already are left as they are: their owner chose their mode.
    """
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # another worker made it meanwhile
            pass


def private_file(path: Path) -> None:
    """Create ``path`` empty, readable and writable by this user only, unless it exists.

    SQLite then gives its -wal and -shm files the same mode as the database file.
    """
    private_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


class Database:
    """Where the table lives, and how to open a short-fused connection to it.

    ``create``: whether connecting may create a SQLite file that does not exist. The running
    service passes False: a file deleted under it must be noticed (the connection fails, calls
    are journaled), not replaced by an empty one that every later write would fail on.
    """

    def __init__(self, url: str, *, timeout: float = 2.0, create: bool = True) -> None:
        self.url = url
        self.timeout = timeout
        self.create = create
        self.dialect: Literal["sqlite", "postgresql"]
        self._libpq: tuple[str, dict[str, str]] | None = None
        # Whether to send backline's timeouts as startup options: not to a pooler known to
        # refuse them, nor to a server that did (see _connect_postgresql).
        self._startup_options = True
        # A PostgreSQL connection one caller is done with, for the next caller to take instead
        # of opening its own (see hand_over); only where ``keep_spare`` is set.
        self.keep_spare = False
        self._spare: Connection | None = None
        self._spare_lock = threading.Lock()
        if url.startswith("sqlite"):
            self.dialect = "sqlite"
            path = url.removeprefix("sqlite:///")
            self.sqlite_path = ":memory:" if url == "sqlite://" or not path else path
        elif url.startswith("postgresql"):
            self.dialect = "postgresql"
            self.sqlite_path = ""
        else:
            raise ValueError(f"unsupported database URL {url!r}")

    @property
    def identity(self) -> str:
        """Which database this is, without user or password: a SQLite file's absolute path,
        or a PostgreSQL server's host(s), port(s) and database name. The state directory is
        bound to it (see backline.store.binding)."""
        if self.dialect == "sqlite":
            if self.sqlite_path == ":memory:":
                return "sqlite://"
            return f"sqlite:///{os.path.abspath(self.sqlite_path)}"
        _dsn, given = self._libpq_parameters()
        host = given.get("host") or given.get("hostaddr") or "localhost"
        port = given.get("port") or "5432"
        name = given.get("dbname") or given.get("user") or ""
        return f"postgresql://{host}:{port}/{name}"

    def sqlite_file_id(self) -> tuple[int, int] | None:
        """The SQLite file's (device, inode), None when there is no such file: a connection
        opened on one file keeps writing to it even after it was deleted or replaced."""
        if self.dialect != "sqlite" or self.sqlite_path == ":memory:":
            return None
        try:
            stat = os.stat(self.sqlite_path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else _pyformat(statement)

    def execute_many(self, cursor: Any, statement: str, rows: list[dict[str, Any]]) -> None:
        """Run ``statement`` for every row in as few round trips as the driver allows."""
        if not rows:
            return
        if self.dialect == "sqlite":
            cursor.executemany(statement, rows)
            return
        from psycopg2.extras import execute_batch

        # Joins the statements into pages: one round trip per page instead of one per row.
        execute_batch(cursor, _pyformat(statement), rows, page_size=100)

    def insert_rows(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        unless_exists: str,
    ) -> None:
        """Insert ``rows`` (values in the order of ``columns``) with one multi-row statement
        per page, skipping a row whose ``unless_exists`` key is taken already.

        One statement rather than one per row: on SQLite every step of a statement lets go of
        the interpreter lock, and the recorder's thread then waits for the event loop to give it
        back, a wait that grows with the number of steps (measured: most of a batch's time);
        on PostgreSQL it is one statement to parse instead of a page of them.
        """
        if not rows:
            return
        if self.dialect == "sqlite":
            per_statement = _SQLITE_MAX_VARIABLES // len(columns)
            for start in range(0, len(rows), per_statement):
                page = rows[start : start + per_statement]
                cursor.execute(
                    _multi_row_insert(table, columns, unless_exists, len(page)),
                    [value for row in page for value in row],
                )
            return
        from psycopg2.extras import execute_values

        execute_values(
            cursor,
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s "
            f"ON CONFLICT ({unless_exists}) DO NOTHING",
            rows,
            page_size=_POSTGRES_ROWS_PER_STATEMENT,
        )

    def connect(self) -> Connection:
        if self._spare is not None:
            with self._spare_lock:
                spare, self._spare = self._spare, None
            if spare is not None:
                return spare
        if self.dialect == "sqlite":
            return connect_sqlite(self.sqlite_path, timeout=self.timeout, create=self.create)
        return self._connect_postgresql()

    def connect_autocommit(self) -> Connection:
        """A new PostgreSQL connection in autocommit mode: each statement is a transaction of
        its own unless the caller sends BEGIN (the group commit's writer process does)."""
        connection: Any = self._connect_postgresql()
        connection.autocommit = True
        return connection  # type: ignore[no-any-return]

    def hand_over(self, connection: Connection) -> None:
        """Done with ``connection``: keep it (its transaction ended) for the next
        :meth:`connect` when ``keep_spare`` is set and nothing is kept yet, else close it.

        A cold Lambda instance loads the table of numbers and then writes its first call: one
        PostgreSQL connection for both instead of two, and a connection (a server process
        started, often TLS and a password exchange) is most of what a cold start waits on.
        """
        if self.keep_spare and self.dialect == "postgresql":
            try:
                connection.rollback()
            except Exception:  # a broken connection is closed, not kept
                log.debug("a connection handed over could not end its transaction", exc_info=True)
            else:
                with self._spare_lock:
                    if self._spare is None:
                        self._spare = connection
                        return
        close_quietly(connection)

    def _libpq_parameters(self) -> tuple[str, dict[str, str]]:
        """The URL as libpq reads it (``postgresql://...``) and the parameters it sets."""
        if self._libpq is None:
            from psycopg2.extensions import parse_dsn

            dsn = "postgresql://" + self.url.split("://", 1)[1]
            self._libpq = (dsn, dict(parse_dsn(dsn)))
            if refuses_startup_options(self._libpq[1].get("host", "")):
                self._startup_options = False
                log.info(
                    "connecting through a pooler that takes no startup options: %s", _NO_LIMITS
                )
        return self._libpq

    def _connect_postgresql(self) -> Connection:
        import psycopg2  # imported here: a SQLite deployment never loads it

        dsn, given = self._libpq_parameters()
        milliseconds = int(self.timeout * 1000)
        ours: dict[str, Any] = {
            # libpq counts whole seconds and treats anything under 2 as 2.
            "connect_timeout": max(2, math.ceil(self.timeout)),
            # A dead peer is noticed by the kernel instead of holding the caller on the line.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": milliseconds,
            "application_name": "backline",
        }
        # What the URL says wins: psycopg2 merges keyword arguments over the URL's own, so
        # only the ones it leaves unset are passed.
        extra = {key: value for key, value in ours.items() if key not in given}
        if "options" in given:
            # A statement that hangs (locks, a stalled server) is cut off by the server. The
            # URL's own options come after ours, so a setting it makes there wins too.
            extra["options"] = f"{self._limits()} {given['options']}"
            return psycopg2.connect(dsn, **extra)  # type: ignore[no-any-return]
        if self._startup_options:
            try:
                return psycopg2.connect(dsn, options=self._limits(), **extra)  # type: ignore[no-any-return]
            except psycopg2.OperationalError as error:
                if not startup_options_refused(error):
                    raise
            # A connection pooler that refuses startup options (PgBouncer unless told to
            # ignore them): connect without, from now on, rather than never.
            self._startup_options = False
            log.warning("the database server refuses startup options: %s", _NO_LIMITS)
        return psycopg2.connect(dsn, **extra)  # type: ignore[no-any-return]

    def _limits(self) -> str:
        milliseconds = int(self.timeout * 1000)
        return f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}"


# What connecting without startup options costs, and what to do about it.
_NO_LIMITS = (
    "backline's statement_timeout and lock_timeout are not set on its connections; set them "
    "for its database role instead (ALTER ROLE ... SET statement_timeout = '2s', and the same "
    "for lock_timeout; see docs/deploy.md)"
)


def close_quietly(connection: Connection, *, empty_wal: bool = False) -> None:
    """Close a connection that may be broken, never raising; with ``empty_wal``, first move a
    SQLite WAL into the file and empty it.

    SQLite finds the -wal file by name: left as it is after the database file was replaced or
    deleted, a new file put at the same path would read the old file's pages as its own.
    """
    if empty_wal:
        try:
            connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:  # the old file's WAL could not be emptied: nothing more to do
            log.debug("emptying the old file's WAL failed", exc_info=True)
    try:
        connection.close()
    except Exception:  # a broken connection may refuse even to close
        log.debug("closing a broken connection failed", exc_info=True)


def connect_sqlite(path: str, *, timeout: float, create: bool = True) -> sqlite3.Connection:
    """A connection with backline's pragmas; ``create=False`` fails on a missing file."""
    if path == ":memory:":
        connection = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
    elif create:
        private_file(Path(path))
        connection = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
    else:
        # mode=rw: open an existing file only, never create an empty one in its place.
        uri = Path(path).absolute().as_uri() + "?mode=rw"
        connection = sqlite3.connect(uri, timeout=timeout, check_same_thread=False, uri=True)
    connection.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    # WAL lets the CLI and several readers work while the service writes; synchronous=FULL makes
    # a committed call survive a power cut, which is what "recorded durably" means. Switching a
    # new file to WAL needs it to itself, and the busy timeout does not cover that switch:
    # several workers starting together (`serve --workers N`) take turns here.
    deadline = time.monotonic() + max(timeout, 1.0)
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    connection.execute("PRAGMA synchronous=FULL")
    return connection
