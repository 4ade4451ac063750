"""Durable first, then answer: the recorder writes each call before its answer leaves.

* Group commit. Concurrent answers hand their records to one writer thread, which writes
  whatever has queued up in a single transaction: one fsync for many calls during a storm.
* Never wait on a broken database. A write that fails opens a breaker for ``retry_seconds``;
  meanwhile records go straight to the local journal. A write that takes longer than the
  timeout (a stalled server) is journaled by the waiting answer itself.
* Order is kept. While the journal holds records, new records join it; the writer replays the
  journal into the database oldest first before it writes there again. Replays are idempotent
  (same keys), so a record written twice, once to each place, is stored once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from backline.store import calls
from backline.store.database import Connection, Database
from backline.store.journal import Journal
from backline.store.records import Record

if TYPE_CHECKING:
    # asyncio costs a Lambda cold start ~25 ms and only the ASGI server's path needs it; the
    # functions that use it import it themselves.
    import asyncio

__all__ = ["Recorder"]

log = logging.getLogger("backline.recorder")

_BATCH_MAX = 256
_REPLAY_BATCH = 200


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


class Recorder:
    def __init__(
        self, database: Database, journal: Journal, *, timeout: float, retry_seconds: float = 5.0
    ) -> None:
        self.database = database
        self.journal = journal
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._connection: Connection | None = None
        self._down_until = 0.0
        self._last_error: str | None = None
        self._io = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Record, asyncio.Future[str | None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        # When the writer began its current write; None while it waits for work.
        self._busy_since: float | None = None
        # Called (with no arguments, must not block) after records were stored anywhere: the
        # notification dispatcher is woken this way instead of waiting for its next poll.
        self.listeners: list[Callable[[], None]] = []
        # Called inside each replay transaction, before its commit, with the replayed records:
        # the notification side marks the calls it already told from the journal.
        self.replay_hooks: list[Callable[[Database, Connection, list[Record]], None]] = []

    # -- state, for /healthz and the tests ---------------------------------------------------
    @property
    def database_up(self) -> bool:
        return time.monotonic() >= self._down_until and self._last_error is None

    @property
    def last_error(self) -> str | None:
        return self._last_error

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
        self._mark_down(f"the database did not answer within {waited:g} s")
        log.warning("database write timed out; journaling %s locally", record.key)
        return self._journal_now(record)

    def _journal_now(self, record: Record) -> str | None:
        result = self.journal.append([record])[0]
        self._tell_listeners()
        return result

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
        self._queue.put((record, future))
        try:
            async with asyncio.timeout(self.timeout):
                return await future
        except TimeoutError:
            self._mark_down(f"the database did not answer within {self.timeout:g} s")
            log.warning("database write timed out; journaling %s locally", record.key)
            return await self._journal_directly(record)

    async def _journal_directly(self, record: Record) -> str | None:
        import asyncio

        return await asyncio.to_thread(self._journal_now, record)

    def _writer_stalled(self) -> bool:
        started = self._busy_since
        return started is not None and time.monotonic() - started > self.timeout

    def start(self) -> None:
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
            if self.journal.pending and time.monotonic() >= self._down_until:
                self._busy_since = time.monotonic()
                try:
                    with self._io:
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

    # -- the two places a record can go (callers hold self._io) --------------------------------
    def _write(self, records: list[Record]) -> list[str | None]:
        if self.journal.pending and time.monotonic() >= self._down_until:
            self._replay_locked()
        if not self.journal.pending and time.monotonic() >= self._down_until:
            try:
                connection = self._connect()
                results = calls.apply(self.database, connection, records)
                connection.commit()
                self._last_error = None
                return results
            except Exception as error:
                self._mark_down(f"{type(error).__name__}: {error}".strip())
                self._drop_connection()
                log.warning(
                    "database write failed (%s); journaling %d record(s) locally",
                    self._last_error,
                    len(records),
                )
        return self.journal.append(records)

    def replay(self) -> int:
        """Move journaled records into the database; returns how many were replayed."""
        with self._io:
            return self._replay_locked()

    def _replay_locked(self, budget: int = 2000) -> int:
        replayed = 0
        while self.journal.pending and replayed < budget:
            with self.journal.handover:
                entries = self.journal.oldest(_REPLAY_BATCH)
                records = [record for _, record in entries]
                try:
                    connection = self._connect()
                    calls.apply(self.database, connection, records)
                    for hook in self.replay_hooks:
                        hook(self.database, connection, records)
                    connection.commit()
                except Exception as error:
                    self._mark_down(f"{type(error).__name__}: {error}".strip())
                    self._drop_connection()
                    return replayed
                self.journal.remove_through(entries[-1][0])
            replayed += len(entries)
            self._last_error = None
        if replayed:
            log.info("replayed %d journaled record(s) into the database", replayed)
        return replayed

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self.database.connect()
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # a broken connection may refuse even to close
                log.debug("closing a broken connection failed", exc_info=True)
            self._connection = None

    def _mark_down(self, reason: str) -> None:
        self._last_error = reason
        self._down_until = time.monotonic() + self.retry_seconds
