"""The group commit through the writer process, on both databases: every batch stored once
and only acknowledged after its commit; a writer killed mid-traffic, a refused record and a
replaced SQLite file lose nothing; the writer never outlives the process that started it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.manage.migrate import upgrade
from backline.store import calls
from backline.store.database import Database
from backline.store.journal import Journal
from backline.store.recorder import Recorder, refused_values
from backline.store.records import CallRecord
from backline.store.writer_process import BatchWriter
from tests.support import (
    accept_everyone,
    call_record,
    empty_postgres,
    leg_record,
    new_call_sid,
    query,
    refuse_caller,
    wait_for,
)

pytestmark = pytest.mark.slow

POISON_CALLER = "+819000000666"


def ended(pid: int) -> bool:
    """Whether the process is gone (or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[1])


@pytest.fixture
def recorder(database_url: str, tmp_path: Path) -> Iterator[Recorder]:
    started = Recorder(
        Database(database_url, create=False),
        Journal(tmp_path / "journal.db"),
        timeout=5,
        retry_seconds=0.3,
        writer_process=True,
    )
    started.start()
    try:
        wait_for(lambda: started.writer_pid is not None, what="the writer process")
        yield started
    finally:
        started.stop()


def record_all(recorder: Recorder, records: list[CallRecord]) -> list[str | None]:
    async def together() -> list[str | None]:
        return await asyncio.gather(*(recorder.record(record) for record in records))

    return asyncio.run(together())


def stored_sids(database_url: str) -> list[str]:
    return sorted(row[0] for row in query(database_url, "SELECT call_sid FROM calls"))


def test_batches_are_committed_by_the_writer_process_once_each(
    recorder: Recorder, database_url: str
) -> None:
    pid = recorder.writer_pid
    assert pid is not None and parent_of(pid) == os.getpid()
    records = [call_record(new_call_sid()) for _ in range(200)]
    # Each record twice, as when Twilio retries during a burst of calls.
    results = record_all(recorder, records + records)
    assert results.count(None) == 200
    assert set(results) == {None, "<Response/>"}  # repeats get the first answer back
    assert stored_sids(database_url) == sorted(r.call_sid for r in records)
    assert query(database_url, "SELECT count(*) FROM events") == [(200,)]
    assert recorder.journal.pending == 0
    assert recorder.writer_pid == pid  # the same writer all along
    if database_url.startswith("sqlite"):
        # The writer holds the database file open: the rows went through it.
        path = os.path.realpath(database_url.removeprefix("sqlite:///"))
        opened = {os.path.realpath(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert path in opened
    recorder.stop()
    assert ended(pid)


def test_a_writer_killed_mid_traffic_loses_nothing_and_is_replaced(
    recorder: Recorder, database_url: str
) -> None:
    first = recorder.writer_pid
    assert first is not None
    records = [call_record(new_call_sid()) for _ in range(50)]
    assert record_all(recorder, records) == [None] * 50
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: ended(first), what="the writer to die")
    # The batch that finds the writer dead is journaled; until a new writer is ready, the
    # recorder's thread writes (and replays the journal) itself.
    later: list[CallRecord] = []

    def another_batch_reaches_a_new_writer() -> bool:
        batch = [call_record(new_call_sid()) for _ in range(5)]
        assert record_all(recorder, batch) == [None] * 5
        later.extend(batch)
        return recorder.writer_pid not in (None, first)

    wait_for(another_batch_reaches_a_new_writer, what="a new writer process")
    assert record_all(recorder, [call_record(new_call_sid())]) == [None]
    wait_for(lambda: recorder.journal.pending == 0, what="the journal's replay")
    assert set(stored_sids(database_url)) >= {r.call_sid for r in records + later}
    assert query(database_url, "SELECT count(*) FROM calls") == [(len(records) + len(later) + 1,)]
    assert recorder.unrecorded == 0 and recorder.lost == 0


def test_a_refused_record_is_set_aside_and_the_rest_of_its_batch_stored(
    recorder: Recorder, database_url: str
) -> None:
    pid = recorder.writer_pid
    refuse_caller(database_url, POISON_CALLER)
    fine = [call_record(new_call_sid()) for _ in range(3)]
    poison = dataclasses.replace(call_record(new_call_sid()), from_number=POISON_CALLER)
    assert record_all(recorder, [fine[0], poison, fine[1], fine[2]]) == [None] * 4
    assert stored_sids(database_url) == sorted(r.call_sid for r in fine)
    assert recorder.journal.set_aside_count() == 1
    assert recorder.database_up
    accept_everyone(database_url)
    after = call_record(new_call_sid())
    assert record_all(recorder, [after]) == [None]
    assert after.call_sid in stored_sids(database_url)
    assert recorder.writer_pid == pid  # a refusal is the record's fault, not the writer's


def test_a_replaced_sqlite_file_is_written_to_by_the_writer_too(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    recorder = Recorder(
        Database(sqlite_url, create=False),
        Journal(tmp_path / "journal.db"),
        timeout=5,
        writer_process=True,
    )
    recorder.start()
    try:
        wait_for(lambda: recorder.writer_pid is not None, what="the writer process")
        before = call_record(new_call_sid())
        assert record_all(recorder, [before]) == [None]
        # A restored backup moved into place, as `mv` does it: a new file under the same name.
        replacement = tmp_path / "restored.db"
        upgrade(f"sqlite:///{replacement}")
        os.replace(replacement, path)
        after = call_record(new_call_sid())
        assert record_all(recorder, [after]) == [None]
        assert stored_sids(sqlite_url) == [after.call_sid]
        assert recorder.journal.pending == 0
    finally:
        recorder.stop()


_ORPHAN = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from backline.store.database import Database
    from backline.store.journal import Journal
    from backline.store.recorder import Recorder
    from tests.support import call_record, new_call_sid

    url, state = sys.argv[1], Path(sys.argv[2])
    recorder = Recorder(Database(url, create=False), Journal(state / "journal.db"), timeout=5,
                        writer_process=True)
    recorder.start()
    while recorder.writer_pid is None:
        time.sleep(0.01)
    asyncio.run(recorder.record(call_record(new_call_sid())))
    print(recorder.writer_pid, flush=True)
    time.sleep(120)
    """
)


def test_the_writer_ends_with_a_server_killed_with_sigkill(sqlite_url: str, tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN, sqlite_url, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert server.stdout is not None
        writer = int(server.stdout.readline())
        assert parent_of(writer) == server.pid
        assert query(sqlite_url, "SELECT count(*) FROM calls") == [(1,)]
        server.kill()
        server.wait()
        wait_for(lambda: ended(writer), what="the orphaned writer to end")
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


# -- the statement for new calls, prepared once per PostgreSQL connection -------------------------


def prepared_here(writer: BatchWriter) -> list[tuple[str, int]]:
    """The statements prepared on the writer's connection, and how often each ran."""
    assert writer.connection is not None
    cursor = writer.connection.cursor()
    cursor.execute(
        "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements ORDER BY name"
    )
    rows = [(str(name), int(runs)) for name, runs in cursor.fetchall()]
    writer.connection.commit()
    return rows


def test_the_writer_runs_one_prepared_statement_for_new_calls(postgres_url: str) -> None:
    empty_postgres(postgres_url)
    writer = BatchWriter(Database(postgres_url, create=False))
    try:
        first = [call_record(new_call_sid()) for _ in range(3)]
        assert writer.write(first) == [None, None, None]
        retried = dataclasses.replace(first[0], answer="<Response><Hangup/></Response>")
        second = [call_record(new_call_sid()), retried]
        # A retry gets the first answer back, through the prepared statement too.
        assert writer.write(second) == [None, "<Response/>"]
        assert writer.prepared
        assert prepared_here(writer) == [(calls.PREPARED_CALLS, 2)]
    finally:
        writer.close(checkpoint=False)
    stored = [record.call_sid for record in first + second[:1]]
    assert stored_sids(postgres_url) == sorted(stored)
    assert query(postgres_url, "SELECT count(*) FROM events") == [(4,)]


def test_a_prepared_statement_gone_from_the_session_costs_no_call(postgres_url: str) -> None:
    """Behind a pooler that hands out a server connection per transaction, the next batch may
    run where nothing was prepared: it is written with the plain statement instead."""
    empty_postgres(postgres_url)
    writer = BatchWriter(Database(postgres_url, create=False))
    try:
        before = [call_record(new_call_sid())]
        writer.write(before)
        assert writer.connection is not None
        writer.connection.cursor().execute(f"DEALLOCATE {calls.PREPARED_CALLS}")
        writer.connection.commit()
        after = [call_record(new_call_sid()), call_record(new_call_sid())]
        assert writer.write(after) == [None, None]
        assert not writer.prepared
        assert prepared_here(writer) == []
        later = [call_record(new_call_sid())]
        assert writer.write(later) == [None]  # and on, plain
    finally:
        writer.close(checkpoint=False)
    assert stored_sids(postgres_url) == sorted(r.call_sid for r in before + after + later)


def test_sqlite_needs_no_prepared_statement(sqlite_url: str) -> None:
    writer = BatchWriter(Database(sqlite_url, create=False))
    try:
        assert writer.write([call_record(new_call_sid())]) == [None]
        assert not writer.prepared
    finally:
        writer.close(checkpoint=False)


def test_a_batch_with_legs_is_one_transaction_on_postgresql(postgres_url: str) -> None:
    """The writer's connection commits each statement by itself, which suits a batch of new
    calls (one statement); any other batch is wrapped in a transaction, so a refused record
    leaves nothing of its batch behind and the connection goes on."""
    empty_postgres(postgres_url)
    refuse_caller(postgres_url, POISON_CALLER)
    writer = BatchWriter(Database(postgres_url, create=False))
    try:
        good = call_record(new_call_sid())
        poison = dataclasses.replace(call_record(new_call_sid()), from_number=POISON_CALLER)
        with pytest.raises(Exception) as refused:
            writer.write([good, leg_record(good.call_sid), poison])
        assert refused_values(refused.value)
        writer.rollback()
        assert stored_sids(postgres_url) == []
        assert query(postgres_url, "SELECT count(*) FROM legs") == [(0,)]
        assert writer.write([good, leg_record(good.call_sid)]) == [None, None]
        # A batch of new calls is one statement: refused as a whole, the connection unharmed.
        with pytest.raises(Exception) as refused:
            writer.write([call_record(new_call_sid()), poison])
        assert refused_values(refused.value)
        writer.rollback()
        later = call_record(new_call_sid())
        assert writer.write([later]) == [None]
    finally:
        writer.close(checkpoint=False)
        accept_everyone(postgres_url)
    assert stored_sids(postgres_url) == sorted([good.call_sid, later.call_sid])
    assert query(
        postgres_url, "SELECT outcome FROM calls WHERE call_sid = :sid", sid=good.call_sid
    ) == [("answered",)]
