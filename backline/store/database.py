"""Lean DB-API access for the answer path: sqlite3 or psycopg2, short timeouts, no ORM.

SQLAlchemy takes ~210 ms to import, more than the whole cold answer may take, so the answer path
speaks plain DB-API. Statements are written once with ``:name`` parameters and translated for
psycopg2's ``%(name)s`` style.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

__all__ = ["Connection", "Database", "utc_now"]


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def utc_now(now: float | None = None) -> str:
    """The timestamp format of every table: ISO-8601 UTC with microseconds and a Z."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class Database:
    """Where the table lives, and how to open a short-fused connection to it."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self.dialect: Literal["sqlite", "postgresql"]
        if url.startswith("sqlite"):
            self.dialect = "sqlite"
            path = url.removeprefix("sqlite:///")
            self.sqlite_path = ":memory:" if url == "sqlite://" or not path else path
        elif url.startswith("postgresql"):
            self.dialect = "postgresql"
            self.sqlite_path = ""
        else:
            raise ValueError(f"unsupported database URL {url!r}")

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

    def connect(self) -> Connection:
        if self.dialect == "sqlite":
            return connect_sqlite(self.sqlite_path, timeout=self.timeout)
        return self._connect_postgresql()

    def _connect_postgresql(self) -> Connection:
        import psycopg2  # imported here: a SQLite deployment never loads it

        parts = urlsplit(self.url)
        milliseconds = int(self.timeout * 1000)
        return psycopg2.connect(  # type: ignore[no-any-return]
            host=parts.hostname or None,
            port=parts.port or None,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            dbname=parts.path.lstrip("/") or None,
            # libpq counts whole seconds and treats anything under 2 as 2.
            connect_timeout=max(2, math.ceil(self.timeout)),
            # A statement that hangs (locks, a stalled server) is cut off by the server, and a
            # dead peer is noticed by the kernel, instead of holding the caller on the line.
            options=f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            tcp_user_timeout=milliseconds,
            application_name="backline",
        )


def connect_sqlite(path: str, *, timeout: float) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
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
