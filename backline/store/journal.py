"""The local durable journal: where calls are recorded while the database is unreachable.

It is a SQLite file in the state directory (synchronous=FULL, so a record survives a crash),
holding records in arrival order under their idempotency key. The recorder replays it into the
database, oldest first, once the database answers again, and deletes what was replayed.

A record the database refuses even though it answers (a value it will not store) is *set aside*
in the same file, so that the records after it still replay; `backline journal` shows and
retries what was set aside, and ``/healthz`` counts it.

The file is opened on first use and again after a failure: a full or read-only disk makes the
journal unavailable (the recorder then holds records in memory and says so), never stops the
process from starting.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backline.store.database import connect_sqlite, utc_now
from backline.store.records import Record, record_from_json, record_to_json

__all__ = ["Journal", "JournalUnavailable", "SetAside"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        answer TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS set_aside (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_aside_at TEXT NOT NULL
    )""",
)
# After a failure to open, wait this long before trying again (each try touches the disk).
_REOPEN_SECONDS = 1.0


class JournalUnavailable(OSError):
    """The journal file cannot be opened or written (a full or read-only disk, say)."""


@dataclass(frozen=True, slots=True)
class SetAside:
    """A record the database refused, kept until `backline journal retry` stores it."""

    id: int
    record: Record
    reason: str
    at: str


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Held while a batch moves from the journal to the database, and by the notifier while
        # it takes journaled calls to tell the team: so each call is told by exactly one of the
        # two (the replay marks what the notifier already took; see backline/notify/local.py).
        self.handover = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pending = 0
        self._reopen_after = 0.0
        # Why the file could not be opened or written last, None while it works.
        self.error: str | None = None
        try:
            with self._lock:
                self._open()
        except JournalUnavailable:
            pass  # said in self.error; the next use tries again

    # -- the file ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        """The open connection, opening the file if needed (callers hold self._lock)."""
        if self._connection is not None:
            return self._connection
        if time.monotonic() < self._reopen_after:
            raise JournalUnavailable(self.error or "the journal is unavailable")
        connection: sqlite3.Connection | None = None
        try:
            connection = connect_sqlite(str(self.path), timeout=5.0)
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.commit()
            pending = int(connection.execute("SELECT count(*) FROM records").fetchone()[0])
        except (sqlite3.Error, OSError) as error:
            if connection is not None:
                connection.close()
            raise self._unavailable(error) from error
        self._connection = connection
        self._pending = pending
        self.error = None
        return connection

    def _unavailable(self, error: BaseException) -> JournalUnavailable:
        self.error = f"{type(error).__name__}: {error}"
        self._reopen_after = time.monotonic() + _REOPEN_SECONDS
        return JournalUnavailable(f"journal {self.path}: {self.error}")

    def _failed(self, error: BaseException) -> JournalUnavailable:
        """A write failed: roll back, and reopen on next use (the disk may have been fixed)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.rollback()
                connection.close()
            except sqlite3.Error:
                pass
        return self._unavailable(error)

    @property
    def available(self) -> bool:
        return self._connection is not None

    def _count(self, connection: sqlite3.Connection) -> int:
        return int(connection.execute("SELECT count(*) FROM records").fetchone()[0])

    @property
    def pending(self) -> int:
        """How many records wait for the database (kept in memory: checked on every answer)."""
        return self._pending

    # -- records waiting for the database ---------------------------------------------------
    def append(self, records: list[Record]) -> list[str | None]:
        """Store records durably; like the database, return the first answer for a repeat.

        Raises :class:`JournalUnavailable` when the file cannot be written.
        """
        results: list[str | None] = []
        with self._lock:
            connection = self._open()
            try:
                cursor = connection.cursor()
                for record in records:
                    kind, payload = record_to_json(record)
                    cursor.execute(
                        "INSERT INTO records (key, kind, payload, answer) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (key) DO NOTHING RETURNING seq",
                        (record.key, kind, payload, record.answer),
                    )
                    if cursor.fetchone() is None:
                        row = cursor.execute(
                            "SELECT answer FROM records WHERE key = ?", (record.key,)
                        ).fetchone()
                        results.append(str(row[0]))
                    else:
                        results.append(None)
                connection.commit()
                self._pending = self._count(connection)
            except sqlite3.Error as error:
                raise self._failed(error) from error
        return results

    def _read(self, sql: str, parameters: tuple[object, ...]) -> list[Any]:
        """Rows of a query; none while the file is unavailable (readers try again later)."""
        with self._lock:
            try:
                return list(self._open().execute(sql, parameters).fetchall())
            except JournalUnavailable:
                return []
            except sqlite3.Error as error:
                raise self._failed(error) from error

    def oldest(self, limit: int) -> list[tuple[int, Record]]:
        rows = self._read("SELECT seq, kind, payload FROM records ORDER BY seq LIMIT ?", (limit,))
        return [(int(seq), record_from_json(kind, payload)) for seq, kind, payload in rows]

    def since(self, seq: int, limit: int) -> list[tuple[int, Record]]:
        """Records after ``seq``, oldest first (the notifier reads new ones as they come)."""
        rows = self._read(
            "SELECT seq, kind, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [(int(seq), record_from_json(kind, payload)) for seq, kind, payload in rows]

    def last_seq(self) -> int:
        rows = self._read("SELECT max(seq) FROM records", ())
        return int(rows[0][0] or 0) if rows else 0

    def remove_through(
        self, seq: int, *, set_aside: list[tuple[Record, str]] | None = None
    ) -> None:
        """Forget records up to ``seq`` (replayed), setting ``set_aside`` apart in the same
        transaction: a crash in between can neither lose nor duplicate one."""
        with self._lock:
            connection = self._open()
            try:
                self._insert_set_aside(connection, set_aside or [])
                connection.execute("DELETE FROM records WHERE seq <= ?", (seq,))
                connection.commit()
                self._pending = self._count(connection)
            except sqlite3.Error as error:
                raise self._failed(error) from error

    # -- records the database refused --------------------------------------------------------
    @staticmethod
    def _insert_set_aside(
        connection: sqlite3.Connection, entries: list[tuple[Record, str]]
    ) -> None:
        now = utc_now()
        for record, reason in entries:
            kind, payload = record_to_json(record)
            connection.execute(
                "INSERT INTO set_aside (key, kind, payload, reason, set_aside_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.key, kind, payload, reason, now),
            )

    def set_aside(self, entries: list[tuple[Record, str]]) -> None:
        """Keep records the database refused, with the reason (raises when unavailable)."""
        if not entries:
            return
        with self._lock:
            connection = self._open()
            try:
                self._insert_set_aside(connection, entries)
                connection.commit()
            except sqlite3.Error as error:
                raise self._failed(error) from error

    def set_aside_count(self) -> int:
        """How many records are set aside (read from the file: `backline journal retry` may
        have taken some from another process)."""
        rows = self._read("SELECT count(*) FROM set_aside", ())
        return int(rows[0][0]) if rows else 0

    def set_aside_entries(self, limit: int = 1000) -> list[SetAside]:
        rows = self._read(
            "SELECT id, kind, payload, reason, set_aside_at FROM set_aside ORDER BY id LIMIT ?",
            (limit,),
        )
        return [
            SetAside(int(id_), record_from_json(kind, payload), reason, at)
            for id_, kind, payload, reason, at in rows
        ]

    def forget_set_aside(self, ids: list[int]) -> None:
        """Drop set-aside records once they are stored in the database."""
        with self._lock:
            connection = self._open()
            try:
                connection.executemany("DELETE FROM set_aside WHERE id = ?", [(i,) for i in ids])
                connection.commit()
            except sqlite3.Error as error:
                raise self._failed(error) from error

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
