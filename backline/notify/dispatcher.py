"""The dispatcher: outbox -> grouping -> channel -> result recorded, retry scheduled, or alert.

One :class:`Dispatcher` runs inside ``backline serve`` (registered in ``Service.components``
and woken by the recorder after each call is stored) or alone as ``backline worker``. Any
number of them may share one database: the outbox's claims make each notification go out once.

Two loops, so that a hung database never holds up the notifications it cannot hold anyway:

* the *database* loop fans ``events`` out and delivers from the main database;
* the *local* loop (only in a process that has a journal) delivers the calls that were
  journaled while the database was down (see :mod:`backline.notify.local`).

Both hand the actual sends to a pool of threads: a receiver that hangs costs one thread until
the send timeout, and every other channel goes on being served.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from backline.config import Config
from backline.core.messages import alert_message
from backline.core.times import iso
from backline.notify.channels import ChannelSpec, DeliveryError, Transport, describe
from backline.notify.grouping import ChannelState, Decision, Thresholds, backoff, decide
from backline.notify.local import LocalOutbox
from backline.notify.outbox import Claimed, Outbox
from backline.store.database import Connection, Database
from backline.store.journal import Journal
from backline.store.records import Record
from backline.store.snapshot import SnapshotKeeper

__all__ = ["Dispatcher", "run_once"]

# The shortest time between two passes of one loop: a few hundredths of a second added to the
# time to know, in exchange for answers that do not slow down while many calls arrive.
_MIN_PASS_SECONDS = 0.05
# During a storm (the last pass took in at least _STORM_EVENTS events) passes are spaced wider:
# at most a quarter of a second more to know, for fewer, larger passes that contend less with
# the answers for the database and the interpreter (in `make bench`, about a tenth more answers
# a second than 0.05 s gave). Calls that come one by one keep the short spacing.
_STORM_PASS_SECONDS = 0.25
_STORM_EVENTS = 20

log = logging.getLogger("backline.notify")

TransportFactory = Callable[[ChannelSpec, Config], Transport]

_PRUNE_EVERY = 600.0
# Tries of a message that could not even be sent (see _deliver) before it is set aside.
_UNSENDABLE_ATTEMPTS = 3
_KEEP_LOCAL_SECONDS = 86400.0

_T = TypeVar("_T")


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _default_transport(spec: ChannelSpec, config: Config) -> Transport:
    from backline.notify.channels.kinds import transport_for

    return transport_for(spec, config)


@dataclass(frozen=True, slots=True)
class _Unrecorded:
    """A message its receiver accepted whose recording failed (the store went away meanwhile)."""

    claimed: Claimed
    decision: Decision
    receipt: str
    sent_at: float


class _Loop:
    """One store's loop: its wake-up event, its thread, how many of its sends are under way,
    and the sent messages it still has to record."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.event = threading.Event()
        self.thread: threading.Thread | None = None
        self.in_flight = 0
        self.failing_since: float | None = None
        self.unrecorded: list[_Unrecorded] = []
        # How many events the last pass took in (see _STORM_EVENTS).
        self.last_fanned = 0


class Dispatcher:
    def __init__(
        self,
        config: Config,
        database: Database | None,
        *,
        journal: Journal | None = None,
        snapshot: SnapshotKeeper | None = None,
        transports: TransportFactory | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.outbox = Outbox(database) if database is not None else None
        self.journal = journal
        self.snapshot = snapshot
        self.transports = transports or _default_transport
        self.owner = owner or f"{socket.gethostname()[:30]}:{os.getpid()}:{os.urandom(3).hex()}"
        self.zone = ZoneInfo(config.timezone)
        # A lease outlives any send (an SMTP send is several timed steps), so it only lapses
        # when its holder is gone.
        self.lease_seconds = 3 * config.notify_send_timeout_seconds + 5
        self._random = random.Random()
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._loops = {"database": _Loop("database"), "local": _Loop("local")}
        self._local_outbox: LocalOutbox | None = None
        self._last_prune = 0.0
        # What this dispatcher did since it was made: messages sent (and the notifications
        # they carried), deliveries to be tried again, channels stopped. `worker --once`
        # reports it.
        self.tally: Counter[str] = Counter()
        # Who holds a channel in the database while this process hands its local part over
        # (never the same as ``owner``: a send of this process may hold a lease too).
        self._holder = f"{self.owner}:hand-over"

    # -- the local outbox, opened on first use -------------------------------------------------
    @property
    def local_path(self) -> Path:
        return self.config.state_dir / "outbox.db"

    def local_outbox(self) -> LocalOutbox | None:
        if self.journal is None or self.snapshot is None:
            return None
        if self._local_outbox is None:
            self._local_outbox = LocalOutbox(self.local_path, self.journal, self.snapshot)
        return self._local_outbox

    def on_replay(self, database: Database, connection: Connection, records: list[Record]) -> None:
        """The recorder's replay hook (see :meth:`LocalOutbox.on_replay`)."""
        if self._local_outbox is None and not self.local_path.exists():
            return  # nothing was ever told from the journal in this state directory
        outbox = self.local_outbox()
        if outbox is not None:
            outbox.on_replay(database, connection, records)
            if self.outbox is not None:
                now = time.time()
                outbox.hold_in_database(
                    self.outbox,
                    connection,
                    self._holder,
                    now,
                    now + self.lease_seconds,
                    self.config.notify_quiet_seconds,
                )

    # -- start, stop, wake ---------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(
            self.config.notify_workers, thread_name_prefix="backline-send"
        )
        stores = ["database"] if self.outbox is not None else []
        if self.journal is not None and self.snapshot is not None:
            stores.append("local")
        for name in stores:
            loop = self._loops[name]
            loop.thread = threading.Thread(
                target=self._run, args=(loop,), name=f"backline-notify-{name}", daemon=True
            )
            loop.thread.start()
        log.info("notification dispatcher %s started (%s)", self.owner, ", ".join(stores))

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        for loop in self._loops.values():
            if loop.thread is not None:
                loop.thread.join(timeout=10)
                loop.thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for loop in self._loops.values():
            store = self._store(loop) if loop.unrecorded else None
            if store is None:
                continue
            try:
                self._record_sent(loop, store)
            except Exception as error:
                log.warning(
                    "%d message(s) sent from the %s store could not be recorded (%s); "
                    "they will be sent again",
                    len(loop.unrecorded),
                    loop.name,
                    _reason(error),
                )
        if self.outbox is not None:
            self.outbox.close()
        local = self._local_outbox
        if local is not None:
            local.close()

    def wake(self) -> None:
        """Look for work now (called by the recorder after each call is stored)."""
        for loop in self._loops.values():
            loop.event.set()

    # -- the loops -----------------------------------------------------------------------------
    def _store(self, loop: _Loop) -> Outbox | None:
        return self.outbox if loop.name == "database" else self.local_outbox()

    def _run(self, loop: _Loop) -> None:
        last_pass = 0.0
        while not self._stopping.is_set():
            # During an outage the recorder wakes us after every batch; one pass takes in all that
            # waits, so passes closer than _MIN_PASS_SECONDS would only contend with the
            # answers for the database and the interpreter.
            spacing = (
                _STORM_PASS_SECONDS if loop.last_fanned >= _STORM_EVENTS else _MIN_PASS_SECONDS
            )
            pause = last_pass + spacing - time.monotonic()
            if pause > 0 and self._stopping.wait(pause):
                break
            last_pass = time.monotonic()
            loop.event.clear()
            try:
                busy = self.run_once(loop.name)
                if loop.failing_since is not None:
                    log.info("notification %s store reachable again", loop.name)
                    loop.failing_since = None
            except Exception as error:
                busy = False
                if loop.failing_since is None:
                    loop.failing_since = time.monotonic()
                    log.warning(
                        "notification %s store unavailable (%s); will retry",
                        loop.name,
                        _reason(error),
                    )
                else:
                    log.debug("notification %s store still unavailable", loop.name, exc_info=True)
            if not busy:
                loop.event.wait(self.config.notify_poll_seconds)

    def run_once(self, name: str = "database") -> bool:
        """One pass over a store: take in, fan out, hand channels to the senders.

        Returns whether anything was done (the loop then goes round again at once).
        """
        loop = self._loops[name]
        store = self._store(loop)
        if store is None:
            return False
        recorded = self._record_sent(loop, store)
        took = 0
        if name == "local":
            local = self.local_outbox()
            assert local is not None
            assert self.journal is not None
            if not self.journal.pending:
                # Every journaled call is in the database: what is left here goes on there.
                self._hand_over(local)
                if not local.has_work(iso(time.time())):
                    self._copy_local_results(local)
                    return bool(recorded)
            local.sync_channels()
            took = local.ingest()
        now = time.time()
        fanned = loop.last_fanned = store.fan_out(iso(now))
        with self._lock:
            free = self.config.notify_workers - loop.in_flight
        claimed = store.claim(self.owner, now, self.lease_seconds, free)
        for item in claimed:
            with self._lock:
                loop.in_flight += 1
            if self._pool is None:  # run_once used directly (tests, one-shot runs)
                self._deliver(loop, store, item)
            else:
                self._pool.submit(self._deliver, loop, store, item)
        return bool(recorded or took or fanned or claimed)

    def _record_sent(self, loop: _Loop, store: Outbox) -> int:
        """Record the messages that were sent while the store could not be written.

        Their channels are still leased to this dispatcher, so no one has sent them again;
        recording them now (before this loop claims anything) releases the lease without a
        repeat. Only a lease that lapsed first (the store was away longer than a lease) lets
        another dispatcher send the message again. Raises if the store is still unavailable:
        what is left waits for the next pass.
        """
        with self._lock:
            waiting, loop.unrecorded = loop.unrecorded, []
        for index, item in enumerate(waiting):
            spec = item.claimed.spec
            try:
                self._stored(
                    partial(
                        store.delivered,
                        spec.id,
                        self.owner,
                        item.decision,
                        item.receipt,
                        item.sent_at,
                        lease=item.claimed.lease,
                    )
                )
            except Exception:
                with self._lock:
                    loop.unrecorded[:0] = waiting[index:]
                raise
            log.info("channel %s: the message sent earlier is now recorded", describe(spec))
        return len(waiting)

    # -- one channel's turn ----------------------------------------------------------------------
    def limits(self, local: bool) -> Thresholds:
        config = self.config
        return Thresholds(
            quiet=config.notify_quiet_seconds,
            summary=config.notify_summary_seconds,
            min_interval=config.notify_min_interval_seconds,
            zone=self.zone,
            language=config.notify_language,
            local=local,
        )

    def _stored(self, operation: Callable[[], _T]) -> _T:
        """Run one outbox transaction, again on a fresh connection if the first one failed.

        A sender thread keeps its connection between deliveries; after the database restarted
        that connection is dead, and only the first statement finds out. The transaction that
        failed changed nothing (and dropped the connection), so trying it once more is safe.
        """
        try:
            return operation()
        except Exception as error:
            log.debug("outbox transaction failed (%s); trying a new connection", _reason(error))
            return operation()

    def _deliver(self, loop: _Loop, store: Outbox, claimed: Claimed) -> None:
        spec = claimed.spec
        sent = False
        try:
            items = self._stored(lambda: store.pending(spec.id))
            now = time.time()
            decided = decide(claimed.state, items, now, self.limits(loop.name == "local"))
            if decided.message is None:
                self._stored(
                    lambda: store.postpone(spec.id, self.owner, decided.next_at, decided.wake_at)
                )
                return
            # Stable across retries of the same message, so a receiver can drop a repeat.
            first = (
                decided.consumed[0]
                if decided.consumed
                else f"{spec.id}:{decided.message.kind}:{iso(now)}"
            )
            delivery_id = f"{first}#{len(decided.consumed)}"
            try:
                receipt = self.transports(spec, self.config).send(decided.message, delivery_id)
            except DeliveryError as error:
                self._failed(store, claimed, decided, error)
                return
            except Exception as error:
                # The message could not even be sent (a value no header can carry, a transport's
                # own bug): retried a few times, in case it was a fluke, then set aside.
                log.exception("channel %s: unexpected error while sending", describe(spec))
                detail = f"{type(error).__name__}: {error}"[:300]
                self._failed(store, claimed, decided, DeliveryError(detail), unsendable=True)
                return
            sent = True
            sent_at = time.time()
            self.tally["sent"] += 1
            self.tally["notifications"] += len(decided.consumed)
            self._stored(
                lambda: store.delivered(
                    spec.id, self.owner, decided, receipt, sent_at, lease=claimed.lease
                )
            )
            log.info(
                "channel %s: sent %s (%d item(s)): %s",
                describe(spec),
                decided.message.kind,
                len(decided.consumed),
                receipt[:80],
            )
        except Exception as error:
            # The store failed mid-way (database gone). Nothing sent: the lease lapses and the
            # channel is planned again from what was committed, so nothing is lost. Sent: the
            # receiver has it, so this dispatcher keeps the lease and records it as soon as
            # the store answers (before the lease could lapse and the message be sent again).
            # A database outage is not a bug: one line says what happened, the traceback is
            # for DEBUG.
            if sent:
                with self._lock:
                    loop.unrecorded.append(_Unrecorded(claimed, decided, receipt, sent_at))
                log.warning(
                    "channel %s: the message was sent but is not recorded yet (%s); "
                    "recorded when the database answers",
                    describe(spec),
                    _reason(error),
                )
            else:
                log.warning(
                    "channel %s: nothing sent, the database is unavailable (%s); "
                    "tried again in %.0f s",
                    describe(spec),
                    _reason(error),
                    self.lease_seconds,
                )
            log.debug("channel %s: outbox failure", describe(spec), exc_info=True)
        finally:
            with self._lock:
                loop.in_flight -= 1
            loop.event.set()

    def _failed(
        self,
        store: Outbox,
        claimed: Claimed,
        decided: Decision,
        error: DeliveryError,
        *,
        unsendable: bool = False,
    ) -> None:
        spec = claimed.spec
        now = time.time()
        config = self.config
        if error.permanent:
            alert = alert_message(
                describe(spec),
                error.detail,
                self.zone,
                config.notify_language,
                at=iso(now),
                channel_id=spec.id,
            )
            told = self._stored(lambda: store.give_up(spec, self.owner, error.detail, now, alert))
            self.tally["stopped"] += 1
            log.error(
                "channel %s is failing and was stopped (%s); %d other channel(s) told",
                describe(spec),
                error.detail,
                told,
            )
            return
        failures = claimed.state.failures + 1
        attempts = config.notify_max_attempts
        if unsendable:
            attempts = min(attempts, _UNSENDABLE_ATTEMPTS)
        if error.rejected or failures >= attempts:
            # One message must not hold up every later one: it is set aside (shown by
            # `channels list`) and the channel goes on.
            self._stored(lambda: store.dead_letter(spec.id, self.owner, decided, error.detail, now))
            self.tally["given_up"] += 1
            log.error(
                "channel %s: message given up after %d attempt(s) (%s); later messages go on",
                describe(spec),
                failures,
                error.detail,
            )
            return
        wait = backoff(
            failures,
            config.notify_retry_base_seconds,
            config.notify_retry_max_seconds,
            self._random.random(),
        )
        if error.retry_after is not None:
            # The receiver said when: not sooner (that would be refused again), and never
            # later than our own longest wait (a receiver could otherwise park the channel
            # for days with one header).
            wait = min(
                max(error.retry_after, config.notify_min_interval_seconds),
                config.notify_retry_max_seconds,
            )
        state = ChannelState(claimed.state.outage, failures)
        self._stored(
            lambda: store.retry_later(spec.id, self.owner, state, now + wait, error.detail, now)
        )
        self.tally["retrying"] += 1
        log.warning(
            "channel %s: delivery failed (%s); try %d again in %.1f s",
            describe(spec),
            error.detail,
            failures + 1,
            wait,
        )

    def _hand_over(self, local: LocalOutbox) -> None:
        if self.outbox is None:
            return  # no dispatcher on the database here: the part is finished locally
        try:
            handed = local.hand_over(
                self.outbox,
                self._holder,
                time.time(),
                self.lease_seconds,
                self.config.notify_quiet_seconds,
            )
        except Exception:
            log.debug("could not hand the local outbox over yet", exc_info=True)
            return
        if handed:
            log.info(
                "database back: %d channel(s) go on from the database with what was told "
                "from the journal",
                handed,
            )
            self._loops["database"].event.set()

    # -- local results back to the database ------------------------------------------------------
    def _copy_local_results(self, local: LocalOutbox) -> None:
        if self.outbox is None:
            return
        rows = local.results_to_copy()
        if rows:
            try:
                self.outbox.merge_results(rows)
            except Exception:
                log.debug("database still unavailable for channel results", exc_info=True)
                return
            local.copied([int(row["id"]) for row in rows])
        if time.monotonic() - self._last_prune > _PRUNE_EVERY:
            self._last_prune = time.monotonic()
            local.prune(iso(time.time() - _KEEP_LOCAL_SECONDS))


def run_once(config: Config, *, max_seconds: float = 50.0) -> dict[str, int]:
    """Deliver what is due now, then return: for a scheduled job or a Lambda function.

    Channels are sent one after another in this thread (no pool: nothing may be left running
    when the function is frozen). Outage summaries and closings fall due later; the next run
    sends them. Returns what this run did (``sent`` messages carrying ``notifications``,
    deliveries ``retrying`` later, messages ``given_up``, channels ``stopped``) and what still
    waits (``pending`` notifications, ``unfanned`` calls).
    """
    database = Database(config.database_url, timeout=config.db_timeout_seconds)
    dispatcher = Dispatcher(config, database)
    deadline = time.monotonic() + max_seconds
    passes = 0
    try:
        while time.monotonic() < deadline and dispatcher.run_once("database"):
            passes += 1
        assert dispatcher.outbox is not None
        counts = dispatcher.outbox.counts()
    finally:
        dispatcher.stop()
    done = {
        key: dispatcher.tally[key]
        for key in ("sent", "notifications", "retrying", "given_up", "stopped")
    }
    waiting = {"pending": counts.get("pending", 0), "unfanned": counts.get("unfanned", 0)}
    return {"passes": passes, **done, **waiting}
