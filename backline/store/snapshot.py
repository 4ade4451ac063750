"""The in-memory table of numbers that every answer is read from.

Static stability: the answer never waits on the database. The snapshot is loaded before the first
answer and refreshed in the background; if the database cannot be read, the last good snapshot
stays in force. Each good load is also saved to a local file, so a process that starts while the
database is down answers from the table as it last saw it, and failing that from the built-in
last resort (the default apology, or BACKLINE_LAST_RESORT_FORWARD_TO).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backline.config import shown_database
from backline.core.models import Defaults, Route
from backline.store.calls import load_table
from backline.store.database import Connection, Database, private_directory

if TYPE_CHECKING:
    from backline.core.hours import Schedule

__all__ = ["Snapshot", "SnapshotKeeper"]

log = logging.getLogger("backline.snapshot")

Source = Literal["database", "local-copy", "built-in"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    routes: Mapping[str, Route]
    defaults: Defaults
    source: Source
    loaded_at: float = field(default_factory=time.time)
    # The notification channels as stored rows (plain dicts, see load_channels): carried here so
    # the team is still told of calls while the database is down.
    channels: tuple[Mapping[str, Any], ...] = ()
    # The latest `backline drill` result (see load_last_drill), for /healthz; None before one.
    last_drill: Mapping[str, Any] | None = None

    def route_for(self, number: str) -> Route | None:
        return self.routes.get(number)

    def to_json(self) -> str:
        return json.dumps(
            {
                "routes": [asdict(route) for route in self.routes.values()],
                "defaults": asdict(self.defaults),
                "loaded_at": self.loaded_at,
                "channels": [dict(channel) for channel in self.channels],
                "last_drill": dict(self.last_drill) if self.last_drill is not None else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data: dict[str, Any] = json.loads(text)
        routes = {}
        for item in data["routes"]:
            item["destinations"] = tuple(item["destinations"])
            item["schedule"] = _schedule(item.get("schedule"))
            routes[item["number"]] = Route(**item)
        channels = tuple(dict(channel) for channel in data.get("channels", ()))
        return cls(
            routes,
            Defaults(**data["defaults"]),
            "local-copy",
            data["loaded_at"],
            channels,
            data.get("last_drill"),
        )


def _schedule(value: Any) -> Schedule | None:
    if not isinstance(value, dict):
        return None
    from backline.core.hours import Schedule, Window

    windows = tuple(Window(**window) for window in value.get("windows", ()))
    return Schedule(str(value["zone"]), windows, tuple(value.get("closed", ())))


_CHANNELS = """
SELECT c.id, c.kind, c.target, c.label, cl.name, c.options, c.failing
FROM channels c LEFT JOIN clients cl ON cl.id = c.client_id
ORDER BY c.id
"""


def load_channels(connection: Connection) -> tuple[dict[str, Any], ...]:
    """The notification channels, or none on a database not yet upgraded to have them."""
    cursor = connection.cursor()
    try:
        cursor.execute(_CHANNELS)
        rows = cursor.fetchall()
    except Exception:
        # An older schema must not stop the table of numbers from loading.
        connection.rollback()
        return ()
    channels = []
    for channel_id, kind, target, label, client, options, failing in rows:
        try:
            parsed = json.loads(options or "{}")
        except ValueError:
            parsed = {}
        channels.append(
            {
                "id": int(channel_id),
                "kind": kind,
                "target": target,
                "label": label,
                "client": client,
                "options": parsed,
                "failing": failing,
            }
        )
    return tuple(channels)


_LAST_DRILL = """
SELECT finished_at, ok, numbers, channels, failures FROM drills ORDER BY id DESC LIMIT 1
"""


def load_last_drill(connection: Connection) -> dict[str, Any] | None:
    """The latest drill's result, or None (no drill yet, or a database without the table)."""
    cursor = connection.cursor()
    try:
        cursor.execute(_LAST_DRILL)
        row = cursor.fetchone()
    except Exception:
        connection.rollback()
        return None
    if row is None:
        return None
    finished_at, ok, numbers, channels, failures = row
    try:
        failing = [str(item) for item in json.loads(failures or "[]")]
    except (ValueError, TypeError):
        failing = []
    return {
        "at": finished_at,
        "ok": bool(ok),
        "numbers": int(numbers),
        "channels": int(channels),
        "failures": failing,
    }


# SQLite says "no such table", PostgreSQL 'relation "numbers" does not exist'.
_NO_TABLES = re.compile(r"no such table|relation \S+ does not exist")


def _old_schema(error: str) -> bool:
    """A database made by an older backline: SQLite says "no such column", PostgreSQL
    'column n.hours does not exist'."""
    return "no such column" in error or ("column " in error and " does not exist" in error)


def built_in_snapshot(last_resort_forward_to: str = "") -> Snapshot:
    return Snapshot({}, Defaults(catch_all=last_resort_forward_to or None), "built-in")


class SnapshotKeeper:
    """Holds the current snapshot; ``refresh()`` replaces it atomically when a load succeeds."""

    def __init__(
        self, database: Database, state_dir: Path, last_resort_forward_to: str = ""
    ) -> None:
        self.database = database
        self.copy_path = state_dir / "snapshot.json"
        self.last_resort_forward_to = last_resort_forward_to
        self.current: Snapshot = built_in_snapshot(last_resort_forward_to)
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def start(self) -> Snapshot:
        """Load before the first answer: database, else the local copy, else built-in."""
        if self.refresh(hand_over=True):
            return self.current
        return self.use_saved_copy()

    def use_saved_copy(self, reason: str | None = None) -> Snapshot:
        """Answer from the local copy (else the built-in last resort) until a load succeeds.

        For a caller that cannot wait for the database any longer (the Lambda handler's
        deadline): a snapshot already loaded from the database is kept.
        """
        if self.current.source != "built-in":
            return self.current
        why = reason or self.last_error
        if self.last_error and _NO_TABLES.search(self.last_error):
            log.error(
                "the database %s has no backline tables yet (%s): run `backline db upgrade`",
                shown_database(self.database.url),
                self.last_error,
            )
        elif self.last_error and _old_schema(self.last_error):
            log.error(
                "the database %s was made by an older backline (%s): run `backline db upgrade`",
                shown_database(self.database.url),
                self.last_error,
            )
        elif self.database.dialect == "sqlite" and self.database.sqlite_file_id() is None:
            log.error(
                "the database file %s does not exist: run `backline db upgrade`",
                self.database.sqlite_path,
            )
        try:
            self.current = Snapshot.from_json(self.copy_path.read_text(encoding="utf-8"))
            log.warning(
                "database unreachable (%s); answering from the local copy saved at %s",
                why,
                time.ctime(self.current.loaded_at),
            )
        except FileNotFoundError:
            log.error(
                "database unreachable (%s) and no local copy; answering with the "
                "built-in last resort",
                why,
            )
        except (ValueError, KeyError, TypeError) as error:
            log.error(
                "local copy %s is unreadable (%s); answering with the built-in last resort",
                self.copy_path,
                error,
            )
        return self.current

    def refresh(self, *, hand_over: bool = False) -> bool:
        """Try to load the table; keep the current snapshot on any failure.

        ``hand_over``: the connection is left to the database's next caller (the first call's
        record, on a cold Lambda instance) where it keeps one (see Database.hand_over).
        """
        with self._lock:
            try:
                connection = self.database.connect()
                try:
                    routes, defaults = load_table(self.database, connection)
                    channels = load_channels(connection)
                    last_drill = load_last_drill(connection)
                except BaseException:
                    connection.close()
                    raise
                if hand_over:
                    self.database.hand_over(connection)
                else:
                    connection.close()
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}".strip()
                return False
            if not defaults.catch_all and self.last_resort_forward_to:
                defaults = replace(defaults, catch_all=self.last_resort_forward_to)
            fresh = Snapshot(routes, defaults, "database", channels=channels, last_drill=last_drill)
            changed = (fresh.routes, fresh.defaults, fresh.channels, fresh.last_drill) != (
                self.current.routes,
                self.current.defaults,
                self.current.channels,
                self.current.last_drill,
            )
            if changed or self.current.source != fresh.source:
                # An unchanged table keeps the snapshot it had, and with it the routes the
                # answers' memo knows (keyed by identity: see Answerer._planned).
                self.current = fresh
            self.last_error = None
            if changed or not self.copy_path.exists():
                self._save_copy(fresh)
            return True

    def _save_copy(self, snapshot: Snapshot) -> None:
        try:
            private_directory(self.copy_path.parent)
            temporary = self.copy_path.with_suffix(".tmp")
            # Owner-only: the channels carry webhook URLs and secrets.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", encoding="utf-8") as handle:
                handle.write(snapshot.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.copy_path)
        except OSError as error:
            # A read-only or full disk must not stop answers; the in-memory snapshot still works.
            log.warning(
                "could not save the local copy of the table to %s: %s", self.copy_path, error
            )
