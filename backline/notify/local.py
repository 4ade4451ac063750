"""Telling the team while the database is down: an outbox next to the journal.

When the database cannot be written, the recorder keeps calls in the local journal. The serving
process then tells the team from there:

1. :meth:`LocalOutbox.ingest` turns new journal records into ``events`` in a local SQLite outbox
   (``<state dir>/outbox.db``, the database's tables as backline/store/schema.py describes
   them), holding the journal's ``handover`` lock.
2. The dispatcher fans them out to the channels of the snapshot (which carries the channel
   list, and is saved locally, so this works even in a process started during the outage) and
   delivers them exactly as it does from the main database.
3. When the database answers again, the recorder replays the journal, and inside each replay
   transaction :meth:`LocalOutbox.on_replay` marks as fanned out the events the outbox already
   holds: the dispatchers on the database do not tell them a second time. Because ingest and
   replay hold the same lock, a record is either taken here before its replay (and marked) or
   replayed first (and told from the database), never both, never neither.

4. Once every journaled record is in the database, what the outbox still holds is handed over
   (:meth:`LocalOutbox.hand_over`): each channel's outage so far is merged into the database's
   state for that channel, and its unsent deliveries are added there. The dispatchers on the
   database then tell one story: that the database is back and the outage goes on, summaries
   counting both parts, one closing. From the replay until the hand-over the database's
   dispatchers are kept off those channels (a lease, see :meth:`Outbox.hold`), so that a call
   recorded in the meantime does not start a second story. A part that cannot be handed over
   (no database dispatcher in this process) is finished here, its closing on time.

The channels' results (last success or failure, a channel found failing) are copied to the
database too.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from backline.core.times import iso
from backline.notify.channels import ChannelSpec
from backline.notify.grouping import ChannelState, Outage
from backline.notify.local_schema import STATEMENTS
from backline.notify.outbox import Outbox
from backline.store.calls import events_for
from backline.store.database import Connection, Database, utc_now
from backline.store.journal import Journal
from backline.store.records import Record
from backline.store.snapshot import SnapshotKeeper

__all__ = ["LocalOutbox"]

log = logging.getLogger("backline.notify")

_INGEST_BATCH = 500


class LocalOutbox(Outbox):
    def __init__(self, path: Path, journal: Journal, snapshot: SnapshotKeeper) -> None:
        super().__init__(Database(f"sqlite:///{path}", timeout=5.0), local=True)
        self.path = path
        self.journal = journal
        self.snapshot = snapshot
        with self.transaction() as cursor:
            for statement in STATEMENTS:
                cursor.execute(statement)
            # Names this outbox in the parts it hands over, so that each is merged once.
            cursor.execute(
                "INSERT INTO meta (key, value) VALUES ('outbox_id', ?) ON CONFLICT DO NOTHING",
                (os.urandom(6).hex(),),
            )
            self.identity = str(
                cursor.execute("SELECT value FROM meta WHERE key = 'outbox_id'").fetchone()[0]
            )

    # -- from the journal -------------------------------------------------------------------
    def ingest(self) -> int:
        """Copy new journal records into the outbox as events; returns how many records."""
        if not self.journal.pending:
            return 0
        with self.journal.handover, self.transaction() as cursor:
            row = cursor.execute("SELECT value FROM meta WHERE key = 'journal_seq'").fetchone()
            seen = int(row[0]) if row else 0
            if seen > self.journal.last_seq() and self.journal.pending:
                seen = 0  # the journal file was replaced; its numbering started again
            entries = self.journal.since(seen, _INGEST_BATCH)
            for _seq, record in entries:
                for event_id, kind, at, payload in events_for(record):
                    cursor.execute(
                        "INSERT INTO events (id, call_sid, kind, payload, created_at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                        (
                            event_id,
                            record.call_sid,
                            kind,
                            json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                            at,
                        ),
                    )
            if entries:
                cursor.execute(
                    "INSERT INTO meta (key, value) VALUES ('journal_seq', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(entries[-1][0]),),
                )
            return len(entries)

    def on_replay(self, database: Database, connection: Connection, records: list[Record]) -> None:
        """Inside the replay transaction: mark the events told from here as fanned out."""
        ids = [event_id for record in records for event_id, *_ in events_for(record)]
        if not ids:
            return
        try:
            with self.transaction() as cursor:
                told = {
                    row[0]
                    for row in cursor.execute(
                        f"SELECT id FROM events WHERE id IN ({','.join('?' * len(ids))})", ids
                    )
                }
        except Exception:
            # Unreadable outbox: nothing can have been told from it; the database tells all.
            log.exception("local outbox unreadable during replay")
            return
        cursor = connection.cursor()
        for event_id in ids:
            if event_id in told:
                cursor.execute(
                    database.sql("UPDATE events SET fanned_out = :t WHERE id = :id"),
                    {"t": True, "id": event_id},
                )

    # -- the database's return ----------------------------------------------------------------
    def _parts(self, cursor: Any, now: str) -> dict[int, tuple[Outage | None, list[Any]]]:
        """Channels with something to hand over (an outage, unsent deliveries), not being sent
        to right now: their outage and their pending deliveries."""
        found: dict[int, tuple[Outage | None, list[Any]]] = {}
        rows = cursor.execute(
            "SELECT id, state FROM channels WHERE lease_until IS NULL OR lease_until < ?", (now,)
        ).fetchall()
        for channel_id, state in rows:
            outage = ChannelState.from_json(state).outage
            pending = cursor.execute(
                "SELECT id, event_id, kind, payload, created_at FROM deliveries "
                "WHERE channel_id = ? AND status = 'pending' ORDER BY created_at, id",
                (channel_id,),
            ).fetchall()
            if outage is not None or pending:
                found[int(channel_id)] = (outage, pending)
        return found

    def hold_in_database(
        self,
        main: Outbox,
        connection: Connection,
        owner: str,
        now: float,
        until: float,
        quiet: float,
    ) -> None:
        """Inside the replay transaction: keep the database's dispatchers off the channels this
        outbox will hand over (see :meth:`Outbox.hold`)."""
        try:
            with self.transaction(write=False) as cursor:
                parts = {
                    channel_id: outage
                    for channel_id, (outage, _) in self._parts(cursor, iso(now)).items()
                }
        except Exception:
            log.exception("local outbox unreadable during replay")
            return
        if parts:
            main.hold(connection.cursor(), parts, owner, now, until, quiet)

    def hand_over(
        self, main: Outbox, owner: str, now: float, lease_seconds: float, quiet: float
    ) -> int:
        """Give the database what this outbox still holds; returns how many channels.

        Each channel is leased here while it is handed over (no local send can overlap), then
        :meth:`Outbox.take_over` merges it there; only after that commit is it cleared here.
        If this process dies in between, the next hand-over repeats it: the merge is done once
        per part, and the deliveries keep their ids.
        """
        with self.transaction(write=False) as cursor:
            if not self._parts(cursor, iso(now)):
                return 0  # the usual case: nothing was told from here (a read, no lock taken)
        with self.transaction() as cursor:
            parts = self._parts(cursor, iso(now))
            for channel_id in parts:
                cursor.execute(
                    "UPDATE channels SET lease_owner = ?, lease_until = ? WHERE id = ?",
                    (owner, iso(now + lease_seconds), channel_id),
                )
        handed = 0
        for channel_id, (outage, pending) in parts.items():
            rows = [
                {
                    "id": row[0],
                    "event": row[1],
                    "kind": row[2],
                    "payload": row[3],
                    "created": row[4],
                }
                for row in pending
            ]
            part_id = f"{self.identity}:{outage.started_at}" if outage is not None else ""
            try:
                outcome = main.take_over(channel_id, outage, part_id, rows, now, quiet, owner)
            except Exception:
                log.debug(
                    "the database did not take channel %d over yet", channel_id, exc_info=True
                )
                outcome = "busy"
            with self.transaction() as cursor:
                if outcome != "busy":
                    # Told from the database now ("gone": the channel was removed there).
                    for row in rows:
                        cursor.execute(
                            "UPDATE deliveries SET status = 'handed' "
                            "WHERE id = ? AND status = 'pending'",
                            (row["id"],),
                        )
                    cursor.execute(
                        "UPDATE channels SET state = ?, wake_at = '' WHERE id = ?",
                        (ChannelState(None, 0).to_json(), channel_id),
                    )
                    handed += 1
                cursor.execute(
                    "UPDATE channels SET lease_owner = NULL, lease_until = NULL "
                    "WHERE id = ? AND lease_owner = ?",
                    (channel_id, owner),
                )
        return handed

    # -- channels from the snapshot ---------------------------------------------------------
    def sync_channels(self) -> None:
        """Make the outbox's channels those of the snapshot (kept when it has none to give)."""
        current = self.snapshot.current
        if current.source == "built-in":
            return
        specs = [ChannelSpec.from_json(value) for value in current.channels]
        now = utc_now()
        with self.transaction() as cursor:
            for spec in specs:
                cursor.execute(
                    "INSERT INTO channels (id, kind, target, label, client, options, failing, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "kind = excluded.kind, target = excluded.target, label = excluded.label, "
                    "client = excluded.client, options = excluded.options, "
                    # A failure found here stands until the database says the channel was fixed.
                    "failing = CASE WHEN channels.failing IS NOT NULL AND excluded.failing IS "
                    "NULL AND channels.synced = 0 THEN channels.failing ELSE excluded.failing END",
                    (
                        spec.id,
                        spec.kind,
                        spec.target,
                        spec.label,
                        spec.client,
                        json.dumps(dict(spec.options)),
                        spec.failing,
                        now,
                    ),
                )
            known = [spec.id for spec in specs]
            marks = ",".join("?" * len(known)) or "NULL"
            cursor.execute(f"DELETE FROM deliveries WHERE channel_id NOT IN ({marks})", known)
            cursor.execute(f"DELETE FROM channels WHERE id NOT IN ({marks})", known)

    def results_to_copy(self) -> list[dict[str, Any]]:
        with self.transaction() as cursor:
            rows = cursor.execute(
                "SELECT id, last_success_at, last_failure_at, last_result, failing, "
                "failing_since FROM channels WHERE synced = 0"
            ).fetchall()
        return [
            {
                "id": row[0],
                "last_success_at": row[1],
                "last_failure_at": row[2],
                "last_result": row[3],
                "failing": row[4],
                "failing_since": row[5],
            }
            for row in rows
        ]

    def copied(self, ids: list[int]) -> None:
        with self.transaction() as cursor:
            for channel_id in ids:
                cursor.execute("UPDATE channels SET synced = 1 WHERE id = ?", (channel_id,))

    def prune(self, before: str) -> None:
        """Forget finished local deliveries and events older than ``before``."""
        with self.transaction() as cursor:
            cursor.execute(
                "DELETE FROM deliveries WHERE status <> 'pending' AND created_at < ?", (before,)
            )
            cursor.execute("DELETE FROM events WHERE fanned_out = 1 AND created_at < ?", (before,))
