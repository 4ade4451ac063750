"""The group commit's database work in a process of its own, off the answering process's
interpreter lock.

The answering process spends its one interpreter lock on answers; turning a batch of records
into rows and handing them to the driver took about a third of that lock's time when the
recorder's thread did it (see docs/benchmarks.md). With this writer, the recorder's thread sends
the batch (pickled) down a pipe and waits on the reply with the lock released; the writer
process builds the rows, writes them in one transaction, commits, and only then replies. A
record counts as stored only after that reply, exactly as before: nothing is acknowledged before
its commit.

Everything else stays with the recorder in the answering process: the breaker, the journal,
the records held in memory, replays and the one-by-one writes after a refusal (rare paths, on
its own connection). The writer is a helper that can vanish at any moment:

* it reads its requests from its standard input and ends at end of file, so it never outlives
  the process that started it, even one killed with -9;
* if it dies or stops making sense, the batch fails like any other database failure (the
  records go to the journal) and a new writer is started after ``retry_seconds``;
* until a new writer says it is ready, the recorder writes in its own thread as before.

The database URL (which may hold a password) goes down the pipe, never on the command line.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from backline.store import calls
from backline.store.database import Connection, Database, close_quietly
from backline.store.records import CallRecord, Record

__all__ = ["WriteFailed", "WriteRefused", "WriterProcess"]

log = logging.getLogger("backline.recorder")

_LENGTH = struct.Struct("!I")
# A batch is at most a few hundred records of a few KiB: far below this. A larger length means
# the stream is corrupt, and the writer is treated as dead.
_FRAME_MAX = 64 * 1024 * 1024
_READY = b"ready"


class WriteFailed(Exception):
    """The writer could not store the batch: the database failed, or the writer is gone.

    ``reason`` is what the recorder reports (``Kind: message``), the database error's own class
    name first, as when the write runs in-process.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WriteRefused(ValueError):
    """The database refused the values of some record in the batch (see
    ``backline.store.recorder.refused_values``): the batch is retried one record at a time."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> Any:
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    if length > _FRAME_MAX:
        raise EOFError
    # Both ends of the pipe are this program's own processes (the writer is started by the
    # server and reads only its private pipe), so what is unpickled was pickled by backline.
    return pickle.loads(_read_exactly(fd, length))  # noqa: S301


def _write_frame(fd: int, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class WriterProcess:
    """The answering process's side: start, send batches, stop. Used by one thread at a time
    (the recorder's, under its lock)."""

    def __init__(self, url: str, *, timeout: float, retry_seconds: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._process: subprocess.Popen[bytes] | None = None
        # Set (by a thread that waits for the writer's first word) once it is ready for work.
        self._ready = threading.Event()
        self._next_start = 0.0
        # Whether the writer holds an open connection (it opens one on its first batch).
        self.connected = False

    def start(self) -> None:
        """Start the writer; it says when it is ready (see :meth:`ready`), without waiting."""
        self._next_start = time.monotonic() + self._retry_seconds
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "backline.store.writer_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                # Its own session: a Ctrl-C or a signal to the server's process group is for
                # the server, which then stops the writer by closing its input.
                start_new_session=True,
            )
        except OSError as error:
            log.warning("cannot start the database writer process (%s); writing in-process", error)
            return
        assert process.stdin is not None
        try:
            _write_frame(process.stdin.fileno(), (self._url, self._timeout))
        except OSError:
            self._kill(process)
            return
        self._process = process
        self._ready.clear()
        self.connected = False
        threading.Thread(
            target=self._await_ready, args=(process,), name="backline-writer-start", daemon=True
        ).start()

    def _await_ready(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        try:
            said = _read_frame(process.stdout.fileno())
        except (EOFError, OSError, pickle.UnpicklingError):
            said = None
        if said != _READY:
            # ready() sees it gone and says so; a new one is started after retry_seconds.
            process.kill()
        elif self._process is process:
            self._ready.set()

    @property
    def pid(self) -> int | None:
        """The writer's process id while it is ready for work, else None."""
        process = self._process
        return process.pid if process is not None and self._ready.is_set() else None

    def ready(self) -> bool:
        """Whether batches can go to the writer now (never blocks; starts a new writer
        ``retry_seconds`` after the last one was lost)."""
        if self._ready.is_set():
            return True
        process = self._process
        if process is None:
            if time.monotonic() >= self._next_start:
                self.start()
        elif process.poll() is not None:
            self._gone("exited before it was ready")
        return False

    def apply(self, records: list[Record]) -> list[str | None]:
        """Store ``records`` in one committed transaction; what ``calls.apply`` returns."""
        reply = self._ask(("apply", records))
        match reply:
            case ("stored", list() as results):
                self.connected = True
                return results
            case ("refused", str() as reason):
                self.connected = True
                raise WriteRefused(reason)
            case ("failed", str() as reason):
                self.connected = False
                raise WriteFailed(reason)
        self._gone("answered nonsense")
        raise WriteFailed("WriterGone: the database writer process answered nonsense")

    def close_connection(self, *, checkpoint: bool) -> None:
        """Have the writer close its connection (first emptying a SQLite WAL, with
        ``checkpoint``: its file was replaced or deleted). Its next batch opens a new one."""
        if not self._ready.is_set() or not self.connected:
            return
        self.connected = False
        try:
            self._ask(("close", checkpoint))
        except WriteFailed:
            pass  # a writer that is gone holds no connection either

    def _ask(self, message: tuple[Any, ...]) -> Any:
        process = self._process
        if process is None or not self._ready.is_set():
            raise WriteFailed("WriterGone: the database writer process is not running")
        assert process.stdin is not None and process.stdout is not None
        try:
            _write_frame(process.stdin.fileno(), message)
            return _read_frame(process.stdout.fileno())
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            self._gone(f"{type(error).__name__} on its pipe")
            raise WriteFailed("WriterGone: the database writer process exited") from error

    def _gone(self, why: str) -> None:
        log.warning("the database writer process %s; writing in-process for now", why)
        process, self._process = self._process, None
        self._ready.clear()
        self.connected = False
        self._next_start = time.monotonic() + self._retry_seconds
        if process is not None:
            self._kill(process)

    def stop(self) -> None:
        """Close the writer's input (it commits nothing half-done: each batch is one
        transaction) and wait for it a moment."""
        process, self._process = self._process, None
        self._ready.clear()
        self.connected = False
        if process is None:
            return
        assert process.stdin is not None
        try:
            process.stdin.close()
            process.wait(timeout=self._timeout + 2)
        except (OSError, subprocess.TimeoutExpired):
            self._kill(process)
        finally:
            if process.stdout is not None:
                process.stdout.close()

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            process.kill()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            log.debug("the database writer process could not be killed", exc_info=True)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class BatchWriter:
    """The writer process's side: one connection, opened on the first batch, each batch written
    and committed in one transaction.

    A batch waits on the database before its answers may leave, and the next batch waits for
    it, so on PostgreSQL the writer saves the server work and round trips per batch:

    * The statement for new calls is prepared once per connection: planning it again for
      every batch took about a third of the server's time per batch.
    * The connection is in autocommit mode. A batch of new calls only (the usual batch) is one
      statement, a transaction of its own, so no BEGIN and COMMIT round trips go with it; any
      other batch is wrapped in BEGIN and COMMIT here.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.connection: Connection | None = None
        self.autocommit = database.dialect == "postgresql"
        # Whether ``connection`` has the statement for new calls prepared.
        self.prepared = False

    def write(self, records: Sequence[Record]) -> list[str | None]:
        """Store ``records`` and commit; what ``calls.apply`` returns. On failure the caller
        calls :meth:`rollback` (or :meth:`close`)."""
        connection = self.connection
        if connection is None:
            if self.autocommit:
                connection = self.database.connect_autocommit()
            else:
                connection = self.database.connect()
            self.connection = connection
            self.prepared = self._prepare(connection)
        try:
            return self._write(connection, records)
        except Exception as error:
            if not (self.prepared and calls.prepared_statement_lost(error)):
                raise
            # Not the server session that prepared it (a pooler handing out a server
            # connection per transaction, say), and nothing was written: plain statements on
            # this connection from now on.
            log.info("the prepared statement is gone; writing without it on this connection")
            self.rollback()
            self.prepared = False
            return self._write(connection, records)

    def _write(self, connection: Connection, records: Sequence[Record]) -> list[str | None]:
        if not self.autocommit:
            results = calls.apply(self.database, connection, records, prepared=self.prepared)
            connection.commit()
            return results
        if all(isinstance(record, CallRecord) for record in records):
            # One statement writes the calls and their events, committed as it returns (a
            # second one, a read, looks up Twilio's retries when there are any).
            return calls.apply(self.database, connection, records, prepared=self.prepared)
        cursor = connection.cursor()
        cursor.execute("BEGIN")
        results = calls.apply(self.database, connection, records, prepared=self.prepared)
        cursor.execute("COMMIT")
        return results

    def _prepare(self, connection: Connection) -> bool:
        """Prepare on a new PostgreSQL connection; a failure only means writing without."""
        if self.database.dialect != "postgresql":
            return False
        try:
            calls.prepare_calls(connection)
        except Exception as error:
            log.info("writing without a prepared statement (%s)", type(error).__name__)
            return False
        return True

    def rollback(self) -> None:
        """End a failed batch's transaction; a connection that cannot is closed."""
        if self.connection is None:
            return
        try:
            if self.autocommit:
                # The driver did not begin it, so it would not end it either.
                self.connection.cursor().execute("ROLLBACK")
            else:
                self.connection.rollback()
        except Exception:
            self.close(checkpoint=False)

    def close(self, *, checkpoint: bool) -> None:
        if self.connection is not None:
            close_quietly(self.connection, empty_wal=checkpoint)
            self.connection = None
            self.prepared = False


def _serve(input_fd: int, output_fd: int) -> None:
    """The writer's loop: one request, one reply, until its input ends."""
    from backline.store.recorder import refused_values

    url, timeout = _read_frame(input_fd)
    writer = BatchWriter(Database(url, timeout=timeout, create=False))
    _write_frame(output_fd, _READY)
    while True:
        try:
            request = _read_frame(input_fd)
        except EOFError:
            writer.close(checkpoint=False)
            return
        match request:
            case ("apply", list() as records):
                try:
                    reply: tuple[str, Any] = ("stored", writer.write(records))
                except Exception as error:
                    reason = f"{type(error).__name__}: {error}".strip()
                    writer.rollback()
                    if refused_values(error):
                        reply = ("refused", reason)
                    else:
                        writer.close(checkpoint=False)
                        reply = ("failed", reason)
            case ("close", bool() as checkpoint):
                writer.close(checkpoint=checkpoint)
                reply = ("closed", None)
            case _:
                reply = ("failed", "ValueError: the writer does not know this request")
        _write_frame(output_fd, reply)


if __name__ == "__main__":
    # The server's own signals are not for the writer: it ends when its input does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies go down a private copy of the output pipe; anything else printed to standard
    # output (a library's stray line) goes to standard error and cannot corrupt a reply.
    replies = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.fileno(), replies)
