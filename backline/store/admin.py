"""SQLAlchemy access for the management side (CLI, imports). Never imported by the answer path."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

__all__ = ["make_engine"]


def make_engine(database_url: str) -> Engine:
    """An engine for short management sessions; SQLite gets the same pragmas as the answer path."""
    if database_url.startswith("sqlite"):
        from pathlib import Path

        path = database_url.removeprefix("sqlite:///")
        if path and database_url != "sqlite://":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
