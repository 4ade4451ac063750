"""One state directory, one database.

The state directory holds what belongs to one database: calls journaled while it was down, calls
it refused (set aside), notices told from the journal whose results go back to it, and the copy
of its table of numbers. Started against another database with the same directory (the easy
path: try the SQLite default, then move to PostgreSQL), backline would replay those calls into
the wrong place. So the directory records the identity of the database it serves
(``database.json``: the SQLite file's absolute path, or PostgreSQL's host, port and database
name; never a user or password), and a start against another database:

* with anything still waiting for the first database, refuses with a message that says what is
  waiting and for which database;
* with nothing waiting, takes the directory over, dropping the other database's copy of its
  table and its local outbox (so neither answers nor notices come from the wrong table).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

from backline.config import ConfigError
from backline.store.database import private_directory, utc_now
from backline.store.journal import Journal

__all__ = ["BINDING_FILE", "bind_state_dir", "waiting_in"]

log = logging.getLogger("backline.state")

BINDING_FILE = "database.json"
# What belongs to the database a state directory serves, besides the journal.
_BELONGINGS = ("snapshot.json", "outbox.db", "outbox.db-wal", "outbox.db-shm")


def bound_identity(state_dir: Path) -> str | None:
    """The identity of the database ``state_dir`` serves, None when it records none."""
    try:
        data = json.loads((state_dir / BINDING_FILE).read_text(encoding="utf-8"))
        return str(data["database"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("%s is unreadable (%s); treating it as absent", state_dir / BINDING_FILE, error)
        return None


def _local_notices(outbox: Path) -> int:
    """Notices told from the journal whose delivery or result has not been settled yet."""
    if not outbox.exists():
        return 0
    try:
        connection = sqlite3.connect(outbox.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        pending = connection.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'pending'"
        ).fetchone()[0]
        unsynced = connection.execute("SELECT count(*) FROM channels WHERE synced = 0").fetchone()[
            0
        ]
        return int(pending) + int(unsynced)
    except sqlite3.Error:
        return 0  # no such tables: nothing was ever told from here
    finally:
        connection.close()


def waiting_in(state_dir: Path, journal: Journal) -> dict[str, int]:
    """What in ``state_dir`` still waits for its database, by kind (only the non-zero ones)."""
    counts = {
        "call record(s) not yet written": journal.pending,
        "call record(s) set aside": journal.set_aside_count(),
        "local notice(s) not yet settled": _local_notices(state_dir / "outbox.db"),
    }
    return {what: count for what, count in counts.items() if count}


def _write_binding(state_dir: Path, identity: str) -> None:
    path = state_dir / BINDING_FILE
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        private_directory(state_dir)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"database": identity, "bound_at": utc_now()}, handle)
            handle.write("\n")
        os.replace(temporary, path)
    except OSError as error:
        # A full or read-only disk must not stop answers; the next start tries again.
        log.warning("could not record which database %s serves: %s", state_dir, error)


def bind_state_dir(state_dir: Path, identity: str, journal: Journal) -> None:
    """Make ``state_dir`` serve the database ``identity``, or raise ConfigError saying why not."""
    bound = bound_identity(state_dir)
    if bound == identity:
        return
    if bound is not None:
        if not journal.available and journal.path.exists():
            raise ConfigError(
                f"the state directory {state_dir} served {bound} and its journal cannot be "
                f"read ({journal.error}), so whether calls still wait for that database is "
                f"unknown; fix the journal, or give {identity} its own BACKLINE_STATE_DIR"
            )
        waiting = waiting_in(state_dir, journal)
        if waiting:
            what = ", ".join(f"{count} {kind}" for kind, count in waiting.items())
            raise ConfigError(
                f"the state directory {state_dir} holds {what} for {bound}, but this process "
                f"is configured for {identity}. Start backline against {bound} until "
                f"`backline journal show` reports nothing waiting, or give {identity} its own "
                f"BACKLINE_STATE_DIR"
            )
        for name in _BELONGINGS:
            try:
                (state_dir / name).unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not remove %s: %s", state_dir / name, error)
        log.warning(
            "the state directory %s served %s; it now serves %s (nothing was waiting)",
            state_dir,
            bound,
            identity,
        )
    _write_binding(state_dir, identity)
