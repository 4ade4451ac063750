"""The durable outbox: fan events out to channels, claim channels, record what was delivered.

The same statements run on three databases: the main PostgreSQL or SQLite database, and the
local SQLite outbox that carries notifications while the main database is down
(:mod:`backline.notify.local`).

Exactly once, as far as a network allows:

* **Fan-out** claims unfanned ``events`` rows (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite:
  ``BEGIN IMMEDIATE``, one writer at a time) and, in the same transaction, inserts one
  ``deliveries`` row per channel with the id ``<event id>@<channel id>`` and marks the event
  fanned out. Two dispatchers never fan out one event twice, and a repeat is a no-op anyway.
* **Delivery** leases a whole channel (``lease_owner``/``lease_until``, claimed the same way):
  only the holder plans and sends that channel's next message, so grouping and pacing are
  decided in one place. The pending rows it folded into the message are marked sent in the
  transaction that releases the lease. The lease outlives the send timeout, so it only lapses
  when its holder died; then another dispatcher plans again from the same rows.
* The one window left: a receiver accepted a message and the dispatcher died before that
  commit. The message is then sent again after the lease lapses (at least once, never lost).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from backline.core.messages import CallEvent, Message
from backline.core.times import iso
from backline.notify.channels import ChannelSpec
from backline.notify.grouping import ChannelState, Decision, Item, Outage, merge_part, wake_time
from backline.store.database import Connection, Database

__all__ = ["Claimed", "Outbox", "TakeOver"]

# What became of a local outbox's part when the database was asked to take it over.
TakeOver = Literal["done", "busy", "gone"]

log = logging.getLogger("backline.notify")

_FAN_OUT_BATCH = 500
# Ids in one UPDATE ... IN (...): within the 999 parameters older SQLite allows.
_IDS_PER_STATEMENT = 500
_PENDING_MAX = 5000


@dataclass(frozen=True, slots=True)
class Claimed:
    spec: ChannelSpec
    state: ChannelState
    # The ``lease_until`` this claim wrote: it tells this lease from a later one of the same
    # owner (see :meth:`Outbox.delivered`).
    lease: str = ""


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Outbox:
    """Outbox operations over one database. Thread-safe: each thread has its own connection."""

    def __init__(self, database: Database, *, local: bool = False) -> None:
        self.database = database
        self.local = local
        self._threads = threading.local()
        self._all: list[Connection] = []
        self._guard = threading.Lock()
        if local:
            # The local outbox stores the client's name; the main database joins clients.
            self._client = "c.client"
            self._from = "channels c"
        else:
            self._client = "cl.name"
            self._from = "channels c LEFT JOIN clients cl ON cl.id = c.client_id"

    # -- connections and transactions -------------------------------------------------------
    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._threads, "connection", None)
        if connection is None:
            connection = self.database.connect()
            self._threads.connection = connection
            with self._guard:
                self._all.append(connection)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._threads, "connection", None)
        self._threads.connection = None
        if connection is not None:
            with self._guard:
                if connection in self._all:
                    self._all.remove(connection)
            try:
                connection.close()
            except Exception:  # a broken connection may refuse to close
                log.debug("closing a broken outbox connection failed", exc_info=True)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A transaction; for writes on SQLite it takes the write lock up front (one writer)."""
        connection = self._connection()
        try:
            cursor = connection.cursor()
            if write and self.database.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            connection.commit()
        except BaseException:
            try:
                connection.rollback()
            except Exception:
                log.debug("rollback failed", exc_info=True)
            self._drop()
            raise

    def _execute(self, cursor: Any, statement: str, params: dict[str, Any] | None = None) -> Any:
        cursor.execute(self.database.sql(statement), params or {})
        return cursor

    @property
    def _skip_locked(self) -> str:
        return " FOR UPDATE OF c SKIP LOCKED" if self.database.dialect == "postgresql" else ""

    def close(self) -> None:
        with self._guard:
            connections, self._all = self._all, []
        for connection in connections:
            try:
                connection.close()
            except Exception:
                log.debug("closing an outbox connection failed", exc_info=True)

    # -- fan-out ----------------------------------------------------------------------------
    def fan_out(self, now: str, limit: int = _FAN_OUT_BATCH) -> int:
        """Turn up to ``limit`` new events into deliveries; returns how many events."""
        if self.database.dialect == "postgresql":
            # Rows locked as they are read: two dispatchers never take the same events.
            with self.transaction() as cursor:
                rows, channels = self._new_events(cursor, limit, " FOR UPDATE SKIP LOCKED")
                if rows:
                    self._fan_out_rows(cursor, rows, channels, now)
                return len(rows)
        # SQLite has one write lock for the whole file, and the recorder needs it for every
        # batch of answers: read without it, and take it only to write. Two dispatchers that
        # read the same events write the same delivery ids (ON CONFLICT DO NOTHING), once.
        with self.transaction(write=False) as cursor:
            rows, channels = self._new_events(cursor, limit, "")
        if rows:
            with self.transaction() as cursor:
                self._fan_out_rows(cursor, rows, channels, now)
        return len(rows)

    def _new_events(
        self, cursor: Any, limit: int, lock: str
    ) -> tuple[list[tuple[str, str, str]], list[tuple[Any, Any]]]:
        """Up to ``limit`` events not fanned out yet, oldest first, and the channels that are
        not failing (none read when there are no events)."""
        rows = self._execute(
            cursor,
            "SELECT id, kind, payload FROM events WHERE fanned_out = :f "
            "ORDER BY created_at, id LIMIT :limit" + lock,
            {"f": False, "limit": limit},
        ).fetchall()
        if not rows:
            return [], []
        channels = self._execute(
            cursor, f"SELECT c.id, {self._client} FROM {self._from} WHERE c.failing IS NULL"
        ).fetchall()
        return rows, channels

    def _fan_out_rows(
        self,
        cursor: Any,
        rows: list[tuple[str, str, str]],
        channels: list[tuple[Any, Any]],
        now: str,
    ) -> None:
        """One delivery per event and channel of its client (or of every client), and the
        events marked as fanned out."""
        deliveries = []
        for event_id, kind, payload in rows if channels else ():
            client = _json(payload).get("client") or None
            deliveries += [
                {
                    "id": f"{event_id}@{channel_id}",
                    "channel": int(channel_id),
                    "event": event_id,
                    "kind": kind,
                    "payload": payload,
                    "now": now,
                }
                for channel_id, channel_client in channels
                if channel_client is None or channel_client == client
            ]
        # Batched: during a storm a pass takes in hundreds of events, and a statement (a
        # round trip, on PostgreSQL) for each would compete with the answers.
        self.database.execute_many(
            cursor,
            "INSERT INTO deliveries (id, channel_id, event_id, kind, payload, status, "
            "created_at) VALUES (:id, :channel, :event, :kind, :payload, 'pending', :now) "
            "ON CONFLICT (id) DO NOTHING",
            deliveries,
        )
        # One statement for the whole pass (not one a row: each is a round trip on
        # PostgreSQL, and on SQLite a step that lets go of the interpreter lock).
        ids = [event_id for event_id, _kind, _payload in rows]
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            page = ids[start : start + _IDS_PER_STATEMENT]
            names = {f"e{index}": event_id for index, event_id in enumerate(page)}
            self._execute(
                cursor,
                "UPDATE events SET fanned_out = :fanned_out WHERE id IN ("
                + ", ".join(f":{name}" for name in names)
                + ")",
                {"fanned_out": True, **names},
            )

    # -- claiming channels ------------------------------------------------------------------
    def claim(self, owner: str, now: float, lease_seconds: float, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` channels that have something to do now."""
        if limit <= 0:
            return []
        now_iso = iso(now)
        until = iso(now + lease_seconds)
        if self.database.dialect == "sqlite":
            # Most passes find nothing due: find that out without SQLite's one write lock,
            # which the recorder needs for every batch of answers.
            with self.transaction(write=False) as cursor:
                if not self._due_channels(cursor, now_iso, 1):
                    return []
        with self.transaction() as cursor:
            ids = self._due_channels(cursor, now_iso, limit)
            claimed = []
            for channel_id in ids:
                self._execute(
                    cursor,
                    "UPDATE channels SET lease_owner = :owner, lease_until = :until WHERE id = :id",
                    {"owner": owner, "until": until, "id": channel_id},
                )
                row = self._execute(
                    cursor,
                    f"SELECT c.id, c.kind, c.target, c.label, {self._client}, "
                    f"c.options, c.state FROM {self._from} WHERE c.id = :id",
                    {"id": channel_id},
                ).fetchone()
                spec = ChannelSpec(int(row[0]), row[1], row[2], row[3], row[4], _json(row[5]))
                claimed.append(Claimed(spec, ChannelState.from_json(row[6]), until))
            return claimed

    def _due_channels(self, cursor: Any, now_iso: str, limit: int) -> list[int]:
        """Up to ``limit`` channels, not failing or leased, with a message due now."""
        return [
            int(row[0])
            for row in self._execute(
                cursor,
                "SELECT c.id FROM channels c WHERE c.failing IS NULL "
                "AND c.next_send_at <= :now "
                "AND (c.lease_until IS NULL OR c.lease_until < :now) "
                "AND (EXISTS (SELECT 1 FROM deliveries d WHERE d.channel_id = c.id "
                "AND d.status = 'pending') OR (c.wake_at <> '' AND c.wake_at <= :now)) "
                "ORDER BY c.next_send_at, c.id LIMIT :limit" + self._skip_locked,
                {"now": now_iso, "limit": limit},
            ).fetchall()
        ]

    def pending(self, channel_id: int) -> list[Item]:
        with self.transaction(write=False) as cursor:
            rows = self._execute(
                cursor,
                "SELECT id, kind, payload, created_at FROM deliveries "
                "WHERE channel_id = :id AND status = 'pending' "
                "ORDER BY created_at, id LIMIT :limit",
                {"id": channel_id, "limit": _PENDING_MAX},
            ).fetchall()
        items = []
        for delivery_id, kind, payload, created_at in rows:
            value = _json(payload)
            if kind == "alert":
                items.append(Item(delivery_id, "alert", created_at, alert=Message.from_json(value)))
            else:
                event = CallEvent.from_payload(kind, value)
                items.append(Item(delivery_id, event.kind, created_at, event=event))
        return items

    # -- outcomes of a claim ----------------------------------------------------------------
    def _release(
        self,
        cursor: Any,
        channel_id: int,
        owner: str,
        sets: str,
        params: dict[str, Any],
        lease: str | None = None,
    ) -> bool:
        where = "id = :id AND lease_owner = :owner"
        params = {**params, "id": channel_id, "owner": owner}
        if lease is not None:
            where += " AND lease_until = :lease"
            params["lease"] = lease
        updated = self._execute(
            cursor,
            f"UPDATE channels SET {sets}, lease_owner = NULL, lease_until = NULL WHERE {where}",
            params,
        ).rowcount
        if not updated:
            log.warning(
                "channel %d: lease lapsed while sending; another dispatcher took over", channel_id
            )
        return bool(updated)

    def delivered(
        self,
        channel_id: int,
        owner: str,
        decision: Decision,
        receipt: str,
        now: float,
        *,
        lease: str | None = None,
    ) -> None:
        """Record a message the receiver accepted and release the channel. ``lease`` (the
        claim's ``lease_until``) releases only that very lease: a result recorded late must
        not end a later claim of the same owner."""
        now_iso = iso(now)
        with self.transaction() as cursor:
            for delivery_id in decision.consumed:
                self._execute(
                    cursor,
                    "UPDATE deliveries SET status = 'sent', sent_at = :now, "
                    "error = NULL WHERE id = :id AND status = 'pending'",
                    {"now": now_iso, "id": delivery_id},
                )
            self._release(
                cursor,
                channel_id,
                owner,
                "state = :state, next_send_at = :next, wake_at = :wake, "
                "last_success_at = :now, last_result = :result",
                {
                    "state": decision.state.to_json(),
                    "next": iso(decision.next_at),
                    "wake": "" if decision.wake_at is None else iso(decision.wake_at),
                    "now": now_iso,
                    "result": receipt[:500],
                },
                lease,
            )

    def postpone(self, channel_id: int, owner: str, next_at: float, wake_at: float | None) -> None:
        """Nothing to send yet (a summary not due): look again at ``next_at``."""
        with self.transaction() as cursor:
            self._release(
                cursor,
                channel_id,
                owner,
                "next_send_at = :next, wake_at = :wake",
                {
                    "next": iso(min(next_at, 253402300799.0)),
                    "wake": "" if wake_at is None else iso(wake_at),
                },
            )

    def retry_later(
        self,
        channel_id: int,
        owner: str,
        state: ChannelState,
        next_at: float,
        error: str,
        now: float,
    ) -> None:
        with self.transaction() as cursor:
            self._release(
                cursor,
                channel_id,
                owner,
                "state = :state, next_send_at = :next, last_failure_at = :now, "
                "last_result = :result",
                {
                    "state": state.to_json(),
                    "next": iso(next_at),
                    "now": iso(now),
                    "result": error[:500],
                },
            )

    def dead_letter(
        self, channel_id: int, owner: str, decision: Decision, reason: str, now: float
    ) -> None:
        """Give up one message (it was refused, or failed too often): what it carried is marked
        ``dead`` with the reason, and the channel moves on as if it had been delivered, so the
        next message flows and an outage's counts go on growing."""
        now_iso = iso(now)
        with self.transaction() as cursor:
            for delivery_id in decision.consumed:
                self._execute(
                    cursor,
                    "UPDATE deliveries SET status = 'dead', sent_at = :now, error = :reason "
                    "WHERE id = :id AND status = 'pending'",
                    {"now": now_iso, "id": delivery_id, "reason": reason[:500]},
                )
            self._release(
                cursor,
                channel_id,
                owner,
                "state = :state, next_send_at = :next, wake_at = :wake, "
                "last_failure_at = :now, last_result = :result",
                {
                    "state": decision.state.to_json(),
                    "next": iso(decision.next_at),
                    "wake": "" if decision.wake_at is None else iso(decision.wake_at),
                    "now": now_iso,
                    "result": f"dead-lettered: {reason}"[:500],
                },
            )

    def give_up(
        self, spec: ChannelSpec, owner: str, reason: str, now: float, alert: Message
    ) -> int:
        """Mark the channel failing, fail what waits for it, alert the channels in its scope.

        Returns how many channels the alert goes to.
        """
        now_iso = iso(now)
        with self.transaction() as cursor:
            self._release(
                cursor,
                spec.id,
                owner,
                "failing = :reason, failing_since = :now, last_failure_at = :now, "
                "last_result = :reason",
                {"reason": reason[:500], "now": now_iso},
            )
            self._execute(
                cursor,
                "UPDATE deliveries SET status = 'failed', error = :reason "
                "WHERE channel_id = :id AND status = 'pending'",
                {"reason": reason[:500], "id": spec.id},
            )
            others = self._execute(
                cursor,
                f"SELECT c.id, {self._client} FROM {self._from} "
                "WHERE c.failing IS NULL AND c.id <> :id",
                {"id": spec.id},
            ).fetchall()
            event_id = f"alert:{spec.id}:{now_iso}"
            payload = json.dumps(alert.to_json(), ensure_ascii=False, separators=(",", ":"))
            told = 0
            for other_id, other_client in others:
                # A client's channel hears only of its own client's channels failing; the
                # global channels (the operators) hear of every one.
                if other_client is not None and other_client != spec.client:
                    continue
                self._execute(
                    cursor,
                    "INSERT INTO deliveries (id, channel_id, event_id, kind, "
                    "payload, status, created_at) VALUES (:id, :channel, :event, 'alert', "
                    ":payload, 'pending', :now) ON CONFLICT (id) DO NOTHING",
                    {
                        "id": f"{event_id}@{other_id}",
                        "channel": int(other_id),
                        "event": event_id,
                        "payload": payload,
                        "now": now_iso,
                    },
                )
                told += 1
            return told

    # -- for the CLI, the tests and the local outbox -----------------------------------------
    def counts(self) -> dict[str, int]:
        with self.transaction(write=False) as cursor:
            rows = self._execute(
                cursor, "SELECT status, count(*) FROM deliveries GROUP BY status"
            ).fetchall()
            unfanned = self._execute(
                cursor, "SELECT count(*) FROM events WHERE fanned_out = :f", {"f": False}
            ).fetchone()[0]
        counts = {str(status): int(n) for status, n in rows}
        counts["unfanned"] = int(unfanned)
        return counts

    def has_work(self, now: str | None = None) -> bool:
        """Something to send: a pending delivery, an event to fan out, or (given ``now``) a
        channel whose scheduled look is due (an outage's closing counts as work)."""
        counts = self.counts()
        if counts.get("pending", 0) or counts["unfanned"]:
            return True
        if now is None:
            return False
        with self.transaction(write=False) as cursor:
            due = self._execute(
                cursor,
                "SELECT 1 FROM channels WHERE failing IS NULL AND wake_at <> '' "
                "AND wake_at <= :now LIMIT 1",
                {"now": now},
            ).fetchone()
        return due is not None

    # -- the database's return: a local outbox hands its part over -----------------------------
    def hold(
        self,
        cursor: Any,
        parts: dict[int, Outage | None],
        owner: str,
        now: float,
        until: float,
        quiet: float,
    ) -> None:
        """Keep the database's dispatchers off these channels until ``until`` (or until
        :meth:`take_over`): a local outbox is about to hand over their outage's story, and a
        call told meanwhile would start a second one. Channels being sent to are left alone,
        and so are those whose own earlier outage must close first."""
        for channel_id, part in parts.items():
            if part is not None:
                row = self._execute(
                    cursor, "SELECT state FROM channels WHERE id = :id", {"id": channel_id}
                ).fetchone()
                outage = ChannelState.from_json(row[0]).outage if row else None
                if row is None or merge_part(outage, part, "", quiet) is None:
                    continue
            self._execute(
                cursor,
                "UPDATE channels SET lease_owner = :owner, lease_until = :until WHERE id = :id "
                "AND (lease_owner IS NULL OR lease_owner = :owner OR lease_until < :now)",
                {"owner": owner, "until": iso(until), "now": iso(now), "id": channel_id},
            )

    def take_over(
        self,
        channel_id: int,
        part: Outage | None,
        part_id: str,
        pending: list[dict[str, Any]],
        now: float,
        quiet: float,
        holder: str,
    ) -> TakeOver:
        """Continue a local outbox's part here: its outage merged into this channel's (once:
        ``part_id``), its unsent deliveries added, the hold released. ``busy`` when the channel
        is being sent to, or still has an earlier outage to close; try again later."""
        now_iso = iso(now)
        lock = " FOR UPDATE" if self.database.dialect == "postgresql" else ""
        with self.transaction() as cursor:
            row = self._execute(
                cursor,
                "SELECT state, lease_owner, lease_until FROM channels WHERE id = :id" + lock,
                {"id": channel_id},
            ).fetchone()
            if row is None:
                return "gone"
            state_text, lease_owner, lease_until = row
            if lease_owner not in (None, holder) and lease_until and lease_until >= now_iso:
                return "busy"
            state = ChannelState.from_json(state_text)
            if part is not None:
                merged = merge_part(state.outage, part, part_id, quiet)
                if merged is None:
                    # The database's own outage ended before this part began: its closing
                    # goes first, so the hold is lifted and the merge waits.
                    self._execute(
                        cursor,
                        "UPDATE channels SET lease_owner = NULL, lease_until = NULL "
                        "WHERE id = :id AND lease_owner = :holder",
                        {"id": channel_id, "holder": holder},
                    )
                    return "busy"
                state = ChannelState(merged, state.failures)
            for delivery in pending:
                self._execute(
                    cursor,
                    "INSERT INTO deliveries (id, channel_id, event_id, kind, payload, status, "
                    "created_at) VALUES (:id, :channel, :event, :kind, :payload, 'pending', "
                    ":created) ON CONFLICT (id) DO NOTHING",
                    {**delivery, "channel": channel_id},
                )
            wake = wake_time(state, quiet)
            self._execute(
                cursor,
                "UPDATE channels SET state = :state, wake_at = :wake, lease_owner = NULL, "
                "lease_until = NULL WHERE id = :id",
                {
                    "state": state.to_json(),
                    "wake": "" if wake is None else iso(wake),
                    "id": channel_id,
                },
            )
        return "done"

    def record_check(self, channel_id: int, *, ok: bool, result: str, now: str) -> None:
        """Keep the result of a test or a drill; one that went through also puts a failing
        channel back. A channel in use keeps its outage grouping: a check in the middle of an
        outage must not make the next call look like the first one."""
        with self.transaction() as cursor:
            if not ok:
                self._execute(
                    cursor,
                    "UPDATE channels SET last_result = :result, last_failure_at = :now "
                    "WHERE id = :id",
                    {"result": result[:500], "now": now, "id": channel_id},
                )
                return
            self._execute(
                cursor,
                "UPDATE channels SET last_result = :result, last_success_at = :now WHERE id = :id",
                {"result": result[:500], "now": now, "id": channel_id},
            )
            self._execute(
                cursor,
                "UPDATE channels SET failing = NULL, failing_since = NULL, state = '{}', "
                "next_send_at = '' WHERE id = :id AND failing IS NOT NULL",
                {"id": channel_id},
            )

    def merge_results(self, rows: list[dict[str, Any]]) -> None:
        """Copy channel results gathered by the local outbox, keeping whichever is newer."""
        with self.transaction() as cursor:
            for row in rows:
                params = {
                    "id": row["id"],
                    "success": row["last_success_at"],
                    "failure": row["last_failure_at"],
                    "result": row["last_result"],
                    "failing": row["failing"],
                    "since": row["failing_since"],
                }
                self._execute(
                    cursor,
                    "UPDATE channels SET last_success_at = :success WHERE id = :id "
                    "AND :success IS NOT NULL AND (last_success_at IS NULL "
                    "OR last_success_at < :success)",
                    params,
                )
                self._execute(
                    cursor,
                    "UPDATE channels SET last_failure_at = :failure, "
                    "last_result = :result WHERE id = :id AND :failure IS NOT NULL "
                    "AND (last_failure_at IS NULL OR last_failure_at < :failure)",
                    params,
                )
                self._execute(
                    cursor,
                    "UPDATE channels SET failing = :failing, failing_since = :since "
                    "WHERE id = :id AND :failing IS NOT NULL AND failing IS NULL",
                    params,
                )
