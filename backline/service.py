"""The running parts of one backline process, wired once and shared by every front end
(uvicorn via ``backline.web.app``, the Lambda handlers, ``backline simulate``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from backline.answer import Answerer
from backline.config import Config
from backline.store.binding import bind_state_dir
from backline.store.database import Database
from backline.store.journal import Journal
from backline.store.recorder import Recorder
from backline.store.snapshot import SnapshotKeeper

if TYPE_CHECKING:
    from backline.notify.dispatcher import Dispatcher

__all__ = ["Service"]

log = logging.getLogger("backline.service")


def public_reason(error: str | None) -> str | None:
    """The kind of a database error, for the public /healthz: its exception's name only.

    The full text (which may name the database's host, port or user) goes to the log.
    """
    if error is None:
        return None
    kind = error.split(":", 1)[0].strip()
    return kind if kind.isidentifier() else "error"


class Service:
    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        # create=False: a SQLite file deleted under the service is noticed, not recreated empty.
        self.database = Database(
            config.database_url, timeout=config.db_timeout_seconds, create=False
        )
        self.snapshot = SnapshotKeeper(
            self.database, config.state_dir, config.last_resort_forward_to
        )
        self.journal = Journal(config.state_dir / "journal.db")
        self.recorder = Recorder(
            self.database,
            self.journal,
            timeout=config.db_timeout_seconds,
            writer_process=config.writer_process,
        )
        # ``clock``: "now" for office hours (tests give their own).
        self.answerer = Answerer(config, self.snapshot, self.recorder, clock=clock)
        # Other long-running parts (the notification dispatcher) register start/stop pairs here.
        self.components: list[tuple[Callable[[], None], Callable[[], None]]] = []
        self.dispatcher = self._notifications() if config.notify_in_serve else None
        self._stopping = threading.Event()
        self._refresher: threading.Thread | None = None
        self.too_large = 0

    def count_too_large(self) -> None:
        """A request body over the limit was refused (called by the ASGI app)."""
        self.too_large += 1

    def _notifications(self) -> Dispatcher:
        """Tell the team from this process: woken by each recorded call, and able to tell
        from the journal while the database is down."""
        from backline.notify.dispatcher import Dispatcher

        dispatcher = Dispatcher(
            self.config, self.database, journal=self.journal, snapshot=self.snapshot
        )
        self.recorder.listeners.append(dispatcher.wake)
        self.recorder.replay_hooks.append(dispatcher.on_replay)
        self.components.append((dispatcher.start, dispatcher.stop))
        return dispatcher

    def start(self, *, background: bool = True) -> None:
        """Load the snapshot (before any answer); with ``background``, start the loops.

        Raises ConfigError when the state directory holds records for another database.
        """
        bind_state_dir(self.config.state_dir, self.database.identity, self.journal)
        if self.config.insecure_demo:
            log.warning(
                "INSECURE DEMO MODE: Twilio signatures are NOT checked; anyone who can "
                "reach this server can make it place calls"
            )
        snapshot = self.snapshot.start()
        log.info("answering from %s: %d number(s)", snapshot.source, len(snapshot.routes))
        if not background:
            return
        self.recorder.start()
        self._stopping.clear()
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="backline-snapshot", daemon=True
        )
        self._refresher.start()
        for start, _stop in self.components:
            start()

    def stop(self) -> None:
        self._stopping.set()
        for _start, stop in reversed(self.components):
            stop()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
            self._refresher = None
        self.recorder.stop()

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(self.config.snapshot_refresh_seconds):
            self.recorder.check_database_file()
            was_error = self.snapshot.last_error
            if not self.snapshot.refresh() and was_error is None:
                log.warning(
                    "cannot refresh the table of numbers (%s); answering from the "
                    "snapshot loaded at %s",
                    self.snapshot.last_error,
                    time.ctime(self.snapshot.current.loaded_at),
                )

    def health(self) -> dict[str, Any]:
        """What the public /healthz shows: a status and counts, never a host, user or path."""
        current = self.snapshot.current
        recorder = self.recorder
        database_up = self.snapshot.last_error is None and recorder.database_up
        set_aside = self.journal.set_aside_count()
        signatures = self.answerer.refusal_health()
        drill = _drill_health(current.last_drill)
        healthy = (
            database_up
            and not self.journal.pending
            and not set_aside
            and not recorder.unrecorded
            and not recorder.lost
            and self.journal.error is None
            and not signatures["mostly_refused"]
            and (drill is None or drill["ok"])
        )
        return {
            # Degraded still answers calls: a load balancer must not take the fallback away
            # because the database is down, so /healthz stays 200 either way.
            "status": "ok" if healthy else "degraded",
            "insecure_demo": self.config.insecure_demo,
            "snapshot": {
                "source": current.source,
                "numbers": len(current.routes),
                "age_seconds": round(time.time() - current.loaded_at, 1),
            },
            "database": "up" if database_up else "down",
            "database_error": public_reason(self.snapshot.last_error or recorder.last_error),
            "journal": "ok" if self.journal.error is None else "unavailable",
            "journal_pending": self.journal.pending,
            "set_aside": set_aside,
            "unrecorded": recorder.unrecorded,
            "lost": recorder.lost,
            # Where the group commit's batches are written: the writer process once it is
            # ready (serve), else this process (Lambda, BACKLINE_WRITER_PROCESS=0).
            "writer": "process" if recorder.writer_pid is not None else "in-process",
            "signatures": signatures,
            "too_large": self.too_large,
            "drill": drill,
        }


def _drill_health(last: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The latest `backline drill`: when, whether it passed, and what failed (a failing drill
    makes the status "degraded": a number would not be forwarded as the table says)."""
    if last is None:
        return None
    from backline.core.times import epoch

    at = str(last.get("at", ""))
    moment = epoch(at)
    age = None if moment is None else round(time.time() - moment, 1)
    return {
        "at": at,
        "age_seconds": age,
        "ok": bool(last.get("ok")),
        "numbers": last.get("numbers"),
        "channels": last.get("channels"),
        "failures": list(last.get("failures") or ()),
    }
