"""The local durable journal: where calls are recorded while the database is unreachable.

It is a SQLite file in the state directory (synchronous=FULL, so a record survives a crash),
holding records in arrival order under their idempotency key. The recorder replays it into the
database, oldest first, once the database answers again, and deletes what was replayed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from backline.store.database import connect_sqlite
from backline.store.records import Record, record_from_json, record_to_json

__all__ = ["Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    answer TEXT NOT NULL
)
"""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Held while a batch moves from the journal to the database, and by the notifier while
        # it takes journaled calls to tell the team: so each call is told by exactly one of the
        # two (the replay marks what the notifier already took; see backline/notify/local.py).
        self.handover = threading.Lock()
        self._connection = connect_sqlite(str(path), timeout=5.0)
        self._connection.execute(_SCHEMA)
        self._connection.commit()
        self._pending = self._count()

    def _count(self) -> int:
        return int(self._connection.execute("SELECT count(*) FROM records").fetchone()[0])

    @property
    def pending(self) -> int:
        """How many records wait for the database (kept in memory: checked on every answer)."""
        return self._pending

    def append(self, records: list[Record]) -> list[str | None]:
        """Store records durably; like the database, return the first answer for a repeat."""
        results: list[str | None] = []
        with self._lock:
            cursor = self._connection.cursor()
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
            self._connection.commit()
            self._pending = self._count()
        return results

    def oldest(self, limit: int) -> list[tuple[int, Record]]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, kind, payload FROM records ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(seq), record_from_json(kind, payload)) for seq, kind, payload in rows]

    def since(self, seq: int, limit: int) -> list[tuple[int, Record]]:
        """Records after ``seq``, oldest first (the notifier reads new ones as they come)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, kind, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [(int(seq), record_from_json(kind, payload)) for seq, kind, payload in rows]

    def last_seq(self) -> int:
        with self._lock:
            row = self._connection.execute("SELECT max(seq) FROM records").fetchone()
        return int(row[0] or 0)

    def remove_through(self, seq: int) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM records WHERE seq <= ?", (seq,))
            self._connection.commit()
            self._pending = self._count()

    def close(self) -> None:
        with self._lock:
            self._connection.close()
