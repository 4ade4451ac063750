"""Durable first, then answer: the recorder writes each call before its answer leaves.

* Group commit. Concurrent answers hand their records to one writer thread, which writes
  whatever has queued up in a single transaction: one fsync for many calls during a burst.
* Never wait on a broken database. A write that fails opens a breaker for ``retry_seconds``;
  meanwhile records go straight to the local journal. A write that takes longer than the
  timeout (a stalled server) is journaled by the waiting answer itself.
* Order is kept. While the journal holds records, new records join it; the writer replays the
  journal into the database oldest first before it writes there again. Replays are idempotent
  (same keys), so a record written twice, once to each place, is stored once.
* No poison records. When the database refuses a record's values (rather than failing as a
  whole), the batch is written again one record at a time and the refused one is set aside in
  the journal (`backline journal`), so that every other record is stored.
* Nowhere to write. When neither the database nor the journal takes a record (a full disk), it
  is held in memory, counted in ``/healthz`` as unrecorded, and written as soon as either works.
* One file. A SQLite database file deleted or replaced under the running process is noticed
  before each write: a replaced file is reopened, a deleted one makes the database "down".
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from backline.store import calls
from backline.store.database import Connection, Database, close_quietly
from backline.store.journal import Journal, JournalUnavailable
from backline.store.records import Record

if TYPE_CHECKING:
    # asyncio costs a Lambda cold start ~25 ms and only the ASGI server's path needs it; the
    # functions that use it import it themselves.
    import asyncio

    from backline.store.writer_process import WriterProcess

__all__ = ["Recorder"]

log = logging.getLogger("backline.recorder")

_BATCH_MAX = 256
_REPLAY_BATCH = 200
# Records held in memory while nothing can store them; beyond this many they are lost (and
# counted): a process must not grow without bound on a disk that stays full.
_HELD_MAX = 10_000
# At most one CRITICAL line about unrecorded calls per this many seconds.
_HOLD_LOG_SECONDS = 60.0


class DatabaseFileGone(Exception):
    """The SQLite database file is not where it was (deleted or moved away)."""


def refused_values(error: BaseException) -> bool:
    """Whether ``error`` is the database (or its driver) refusing the values of a record,
    rather than being unreachable, misconfigured or missing its tables.

    The DB-API's DataError (a number out of range, text too long) and IntegrityError (a
    constraint), and the drivers' own refusals before sending anything (psycopg2 raises
    ValueError for a NUL in text, sqlite3 OverflowError for an integer beyond 64 bits).
    Named by class name so that neither driver has to be imported to ask.
    """
    if isinstance(error, ValueError | TypeError | OverflowError):
        return True
    return any(cls.__name__ in ("DataError", "IntegrityError") for cls in type(error).__mro__)


def _reason(error: BaseException) -> str:
    """What the recorder reports of a failed write: the database error's class and message
    (the writer process sends them as its ``reason``)."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else f"{type(error).__name__}: {error}".strip()


def _settle(
    futures: list[asyncio.Future[str | None]], outcome: list[str | None] | BaseException
) -> None:
    for index, future in enumerate(futures):
        if future.done():  # the answer stopped waiting (timeout) and journaled it itself
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])


class _Deadlines:
    """The answers on one event loop waiting for the writer, oldest first, each failed with
    TimeoutError if its record is not settled within ``timeout``.

    One timer at a time, at the oldest waiting answer's deadline, rather than a timer armed and
    cancelled for every answer: the timeout is the same for all, so the answers expire in the
    order they came, and the timer fires about once a timeout however many answers go by.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.waiting: deque[tuple[float, asyncio.Future[str | None]]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, future: asyncio.Future[str | None]) -> None:
        waiting = self.waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        deadline = self.loop.time() + self.timeout
        waiting.append((deadline, future))
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.timer = None
        now = self.loop.time()
        waiting = self.waiting
        while waiting:
            deadline, future = waiting[0]
            if not future.done():
                if deadline > now:
                    self.timer = self.loop.call_at(deadline, self._expire)
                    return
                future.set_exception(TimeoutError())
            waiting.popleft()


class Recorder:
    def __init__(
        self,
        database: Database,
        journal: Journal,
        *,
        timeout: float,
        retry_seconds: float = 5.0,
        writer_process: bool = False,
    ) -> None:
        self.database = database
        self.journal = journal
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._connection: Connection | None = None
        # The SQLite file the connection was opened on, (device, inode).
        self._file_id: tuple[int, int] | None = None
        self._down_until = 0.0
        self._last_error: str | None = None
        self._io = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Record, asyncio.Future[str | None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        # With ``writer_process``, the group commit's batches are written by a process of its
        # own (see backline.store.writer_process), started with the writer thread.
        self._writer_wanted = writer_process and database.sqlite_path != ":memory:"
        self._writer: WriterProcess | None = None
        # The SQLite file the writer process's connection was opened on.
        self._writer_file_id: tuple[int, int] | None = None
        # When the writer began its current write; None while it waits for work.
        self._busy_since: float | None = None
        # Called (with no arguments, must not block) after records were stored anywhere: the
        # notification dispatcher is woken this way instead of waiting for its next poll.
        self.listeners: list[Callable[[], None]] = []
        # Called inside each replay transaction, before its commit, with the replayed records:
        # the notification side marks the calls it already told from the journal.
        self.replay_hooks: list[Callable[[Database, Connection, list[Record]], None]] = []
        # The answers each event loop is waiting on, to be timed out (see _Deadlines).
        self._deadlines: dict[asyncio.AbstractEventLoop, _Deadlines] = {}
        # Records that neither the database nor the journal would take, oldest first.
        self._held: list[Record] = []
        self._held_lock = threading.Lock()
        self._lost = 0
        self._next_hold_log = 0.0

    # -- state, for /healthz and the tests ---------------------------------------------------
    @property
    def database_up(self) -> bool:
        return time.monotonic() >= self._down_until and self._last_error is None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def writer_pid(self) -> int | None:
        """The process id of the writer process while it takes the group commit's batches;
        None while they are written in this process."""
        return None if self._writer is None else self._writer.pid

    @property
    def unrecorded(self) -> int:
        """Calls answered but held in memory only: neither the database nor the journal took
        them (yet)."""
        return len(self._held)

    @property
    def lost(self) -> int:
        """Calls answered and never recorded: more than the memory holds were waiting."""
        return self._lost

    # -- recording ---------------------------------------------------------------------------
    def record_sync(self, record: Record) -> str | None:
        """Record one call or leg from a synchronous caller (the Lambda handler, the CLI)."""
        with self._io:
            result = self._write([record])[0]
        self._tell_listeners()
        return result

    def record_within_timeout(self, record: Record, timeout: float | None = None) -> str | None:
        """Like :meth:`record_sync`, but never waits on the database longer than the timeout
        (``timeout`` when given, a caller's own deadline, else the recorder's).

        For synchronous callers that must answer in time (the Lambda handler): a database
        that stops answering mid-statement is not bounded by any driver timeout, so the write
        runs in a helper thread; past the timeout the record is journaled here instead, and the
        helper finishes (or not) on its own. Both places are idempotent, so a record that ends
        up in both is stored once.
        """
        if self._writer_stalled():
            return self._journal_now(record)
        done = threading.Event()
        outcome: list[str | BaseException | None] = []

        def write() -> None:
            self._busy_since = time.monotonic()
            try:
                outcome.append(self.record_sync(record))
            except BaseException as error:
                outcome.append(error)
            finally:
                self._busy_since = None
                done.set()

        threading.Thread(target=write, name="backline-record", daemon=True).start()
        waited = self.timeout if timeout is None else max(0.0, timeout)
        if done.wait(waited):
            result = outcome[0]
            if isinstance(result, BaseException):
                raise result
            return result
        self._mark_down(f"Timeout: the database did not answer within {waited:g} s")
        log.warning("database write timed out; journaling %s locally", record.key)
        return self._journal_now(record)

    def _journal_now(self, record: Record) -> str | None:
        result = self._journal_or_hold([record])[0]
        self._tell_listeners()
        return result

    def _journal_or_hold(self, records: list[Record]) -> list[str | None]:
        """Append to the journal; if it cannot be written either, hold the records."""
        if self._held:
            # Older records wait in memory: newer ones join them, so that order is kept (a
            # leg written before its call would lose its outcome).
            self._hold(records, "older records are held in memory")
            return [None] * len(records)
        try:
            return self.journal.append(records)
        except JournalUnavailable as error:
            self._hold(records, str(error))
            return [None] * len(records)

    def _hold(self, records: list[Record], reason: str) -> None:
        with self._held_lock:
            room = max(0, _HELD_MAX - len(self._held))
            self._held.extend(records[:room])
            lost = len(records) - min(room, len(records))
            self._lost += lost
            held = len(self._held)
        now = time.monotonic()
        if lost or now >= self._next_hold_log:
            self._next_hold_log = now + _HOLD_LOG_SECONDS
            log.critical(
                "could not record %d call record(s) in the database (%s) or the journal (%s); "
                "%d held in memory until either works again, %d lost so far",
                len(records),
                self._last_error or "not tried",
                reason,
                held,
                self._lost,
            )

    def _flush_held(self) -> None:
        """Store what was held, oldest first, before anything newer (callers hold _io)."""
        with self._held_lock:
            batch = list(self._held)
        if not batch or self._place(batch) is None:
            return
        with self._held_lock:
            # Only the batch: records held meanwhile (newer) stay, in order.
            del self._held[: len(batch)]
        log.warning("recorded %d call record(s) that were held in memory", len(batch))

    async def record(self, record: Record) -> str | None:
        """Record from the event loop through the group-commit writer, within the timeout."""
        import asyncio

        if self._thread is None:
            return await asyncio.to_thread(self.record_sync, record)
        if self._writer_stalled():
            # The writer is stuck on a database that stopped answering (not refusing: a
            # refusal is quick). Every answer would wait out the timeout behind it, so go
            # straight to the journal until the writer is free again.
            return await self._journal_directly(record)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        deadlines = self._deadlines.get(loop)
        if deadlines is None:
            deadlines = self._watch(loop)
        deadlines.add(future)
        self._queue.put((record, future))
        try:
            return await future
        except TimeoutError:
            self._mark_down(f"Timeout: the database did not answer within {self.timeout:g} s")
            log.warning("database write timed out; journaling %s locally", record.key)
            return await self._journal_directly(record)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        # The loops of a process are few (one, but tests start and close many): forget closed
        # ones when a new one comes.
        kept = {known: d for known, d in self._deadlines.items() if not known.is_closed()}
        kept[loop] = deadlines = _Deadlines(loop, self.timeout)
        self._deadlines = kept
        return deadlines

    async def _journal_directly(self, record: Record) -> str | None:
        import asyncio

        return await asyncio.to_thread(self._journal_now, record)

    def _writer_stalled(self) -> bool:
        started = self._busy_since
        return started is not None and time.monotonic() - started > self.timeout

    def start(self) -> None:
        if self._writer_wanted and self._writer is None:
            from backline.store.writer_process import WriterProcess

            self._writer = WriterProcess(
                self.database.url, timeout=self.database.timeout, retry_seconds=self.retry_seconds
            )
            self._writer.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="backline-recorder", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=self.timeout + 5)
        with self._io:
            self._drop_connection()
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.stop()

    def _run(self) -> None:
        # The writer must outlive any surprise: if it died, every answer would wait out the
        # timeout and journal itself. Log and go on.
        while True:
            try:
                if self._run_once():
                    return
            except Exception:
                log.exception("recorder writer: unexpected error; carrying on")

    def _run_once(self) -> bool:
        """Write one batch (or replay when idle); True when asked to stop."""
        try:
            item = self._queue.get(timeout=1.0)
        except queue.Empty:
            if (self.journal.pending or self._held) and time.monotonic() >= self._down_until:
                self._busy_since = time.monotonic()
                try:
                    with self._io:
                        self._flush_held()
                        self._replay_locked()
                finally:
                    self._busy_since = None
            return False
        if item is None:
            return True
        batch = [item]
        while len(batch) < _BATCH_MAX:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # finish this batch, then stop
                break
            batch.append(more)
        outcome: list[str | None] | BaseException
        self._busy_since = time.monotonic()
        try:
            with self._io:
                outcome = self._write([record for record, _ in batch])
        except BaseException as error:  # the journal itself failed: tell every waiter
            outcome = error
        finally:
            self._busy_since = None
        # One wake-up of each event loop per batch, not one per record.
        by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for index, (_, future) in enumerate(batch):
            by_loop.setdefault(future.get_loop(), []).append(index)
        for loop, indexes in by_loop.items():
            try:
                loop.call_soon_threadsafe(
                    _settle,
                    [batch[i][1] for i in indexes],
                    outcome
                    if isinstance(outcome, BaseException)
                    else [outcome[i] for i in indexes],
                )
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                continue
        self._tell_listeners()
        return False

    def _tell_listeners(self) -> None:
        for listener in self.listeners:
            try:
                listener()
            except Exception:  # a listener must never stop the recording
                log.exception("recorder listener failed")

    # -- the places a record can go (callers hold self._io) ------------------------------------
    def _write(self, records: list[Record]) -> list[str | None]:
        if self._held:
            self._flush_held()
        return self._store(records)

    def _store(self, records: list[Record]) -> list[str | None]:
        if self._held:
            return self._journal_or_hold(records)  # joins the held records, in order
        results = self._place(records)
        if results is None:
            self._hold(records, self.journal.error or "the journal is unavailable")
            return [None] * len(records)
        return results

    def _place(self, records: list[Record]) -> list[str | None] | None:
        """Write to the database, else the journal; None when neither takes the records."""
        if self.journal.pending and time.monotonic() >= self._down_until:
            self._replay_locked()
        if not self.journal.pending and time.monotonic() >= self._down_until:
            try:
                results = self._apply(records)
                self._last_error = None
                return results
            except Exception as error:
                self._rollback()
                if refused_values(error):
                    stored = self._store_one_by_one(records, replayed=False)
                    if stored is not None:
                        results, refused = stored
                        self._set_aside(refused)
                        return results
                else:
                    self._mark_down(_reason(error))
                    self._drop_connection()
                log.warning(
                    "database write failed (%s); journaling %d record(s) locally",
                    self._last_error,
                    len(records),
                )
        try:
            return self.journal.append(records)
        except JournalUnavailable:
            return None

    def _apply(self, records: list[Record]) -> list[str | None]:
        """Write and commit one batch: in the writer process when it is ready, else here."""
        writer = self._writer
        if writer is not None and writer.ready():
            file_id = self._check_sqlite_file() if self.database.dialect == "sqlite" else None
            was_connected = writer.connected
            results = writer.apply(records)
            if not was_connected:
                self._writer_file_id = file_id
            return results
        connection = self._connect()
        results = calls.apply(self.database, connection, records)
        connection.commit()
        return results

    def _store_one_by_one(
        self, records: list[Record], *, replayed: bool
    ) -> tuple[list[str | None], list[tuple[Record, str]]] | None:
        """Write each record in its own transaction, after the database refused a batch.

        Returns the results and the records refused with the reason; None (the database marked
        down) when it failed otherwise, or refused every one of several records: then it is the
        database (its schema, say) that is wrong, not the records, and they wait for it.
        """
        results: list[str | None] = []
        refused: list[tuple[Record, str]] = []
        for record in records:
            try:
                connection = self._connect()
                result = calls.apply(self.database, connection, [record])[0]
                if replayed:
                    for hook in self.replay_hooks:
                        hook(self.database, connection, [record])
                connection.commit()
            except Exception as error:
                self._rollback()
                reason = _reason(error)
                if not refused_values(error):
                    self._mark_down(reason)
                    self._drop_connection()
                    return None
                refused.append((record, reason))
                results.append(None)
                continue
            results.append(result)
        if len(refused) == len(records) > 1:
            self._mark_down(refused[-1][1])
            return None
        self._last_error = None
        return results, refused

    def _set_aside(self, refused: list[tuple[Record, str]]) -> None:
        if not refused:
            return
        for record, reason in refused:
            log.error(
                "the database refused %s (%s); set aside: see `backline journal show`",
                record.key,
                reason,
            )
        try:
            self.journal.set_aside(refused)
        except JournalUnavailable as error:
            self._hold([record for record, _ in refused], str(error))

    def replay(self) -> int:
        """Move journaled records into the database; returns how many were replayed."""
        with self._io:
            return self._replay_locked()

    def _replay_locked(self, budget: int = 2000) -> int:
        replayed = 0
        while self.journal.pending and replayed < budget:
            with self.journal.handover:
                entries = self.journal.oldest(_REPLAY_BATCH)
                if not entries:  # the journal cannot be read just now
                    return replayed
                records = [record for _, record in entries]
                refused: list[tuple[Record, str]] = []
                try:
                    connection = self._connect()
                    calls.apply(self.database, connection, records)
                    for hook in self.replay_hooks:
                        hook(self.database, connection, records)
                    connection.commit()
                except Exception as error:
                    self._rollback()
                    stored = None
                    if refused_values(error):
                        stored = self._store_one_by_one(records, replayed=True)
                    if stored is None:
                        if not refused_values(error):
                            self._mark_down(_reason(error))
                            self._drop_connection()
                        return replayed
                    refused = stored[1]
                for record, reason in refused:
                    log.error(
                        "the database refused journaled %s (%s); set aside: see "
                        "`backline journal show`",
                        record.key,
                        reason,
                    )
                try:
                    self.journal.remove_through(entries[-1][0], set_aside=refused)
                except JournalUnavailable:
                    # Stored, but still in the journal: the next replay repeats the batch,
                    # which is harmless (idempotent), once the journal can be written.
                    return replayed
            replayed += len(entries)
            self._last_error = None
        if replayed:
            log.info("replayed %d journaled record(s) into the database", replayed)
        return replayed

    def _connect(self) -> Connection:
        if self.database.dialect == "sqlite" and self.database.sqlite_path != ":memory:":
            self._check_sqlite_file()
        if self._connection is None:
            self._connection = self.database.connect()
            self._file_id = self.database.sqlite_file_id()
        return self._connection

    def _check_sqlite_file(self) -> tuple[int, int]:
        """Notice a SQLite file deleted or replaced since the connection was opened: writing on
        would go into a file nobody will ever read (a stat costs a microsecond). Returns the
        file's (device, inode)."""
        current = self.database.sqlite_file_id()
        path = self.database.sqlite_path
        if current is None:
            self._retire_connection()
            raise DatabaseFileGone(f"the database file {path} does not exist (deleted or moved)")
        writer = self._writer
        writer_moved = writer is not None and writer.connected and current != self._writer_file_id
        if (self._connection is not None and current != self._file_id) or writer_moved:
            log.warning("the database file %s was replaced; writing to the new file", path)
            self._retire_connection()
        return current

    def check_database_file(self) -> None:
        """Look for a replaced or deleted SQLite file now, between writes (the refresh loop
        calls this, so that the old file's connection is let go as early as possible)."""
        writer_connected = self._writer is not None and self._writer.connected
        if self.database.dialect != "sqlite" or (self._connection is None and not writer_connected):
            return
        if not self._io.acquire(blocking=False):
            return  # the writer is at work, and checks before it writes anyway
        try:
            self._check_sqlite_file()
        except DatabaseFileGone as error:
            self._mark_down(f"DatabaseFileGone: {error}")
        finally:
            self._io.release()

    def _retire_connection(self) -> None:
        """Let go of the connections (this process's and the writer's) whose file is no longer
        at its path, emptying the WAL first (see ``close_quietly``)."""
        self._drop_connection(empty_wal=True)

    def _rollback(self) -> None:
        if self._connection is not None:
            try:
                self._connection.rollback()
            except Exception:  # a broken connection: the next write opens a new one
                self._drop_connection()

    def _drop_connection(self, *, empty_wal: bool = False) -> None:
        if self._connection is not None:
            close_quietly(self._connection, empty_wal=empty_wal)
            self._connection = None
            self._file_id = None
        if self._writer is not None:
            self._writer.close_connection(checkpoint=empty_wal)

    def _mark_down(self, reason: str) -> None:
        self._last_error = reason
        self._down_until = time.monotonic() + self.retry_seconds
