"""The recorder: group commit, journal fallback and idempotent replay, on both databases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backline.core.models import Call, Defaults, Route
from backline.core.planner import plan_after_leg, plan_first
from backline.store.database import Database, utc_now
from backline.store.journal import Journal
from backline.store.recorder import Recorder
from backline.store.records import CallRecord, LegRecord
from tests.processes import Relay
from tests.support import empty_postgres, new_call_sid, query

ROUTE = Route("+815031234567", ("+81312345678",))


def call_record(sid: str | None = None) -> CallRecord:
    call = Call(
        call_sid=sid or new_call_sid(), to=ROUTE.number, from_="+819012345678", error_code="11200"
    )
    return CallRecord.build(
        call, plan_first(call, ROUTE, Defaults(), now=0.0), "<Response/>", utc_now()
    )


def leg_record(sid: str, status: str, duration: int | None = None) -> LegRecord:
    call = Call(call_sid=sid, to=ROUTE.number)
    plan = plan_after_leg(call, ROUTE, Defaults(), 0, status)
    return LegRecord.build(
        call=call,
        step=0,
        plan=plan,
        status=status,
        dial_call_sid="CAleg",
        duration=duration,
        answer="<Response><Hangup/></Response>",
        at=utc_now(),
    )


def test_concurrent_answers_are_each_written_once(database_url: str, tmp_path: Path) -> None:
    recorder = Recorder(Database(database_url), Journal(tmp_path / "journal.db"), timeout=10)
    recorder.start()
    records = [call_record() for _ in range(300)]

    async def burst() -> list[str | None]:
        # Each record twice, as when Twilio retries during a burst of calls.
        return await asyncio.gather(*(recorder.record(r) for r in records + records))

    try:
        results = asyncio.run(burst())
    finally:
        recorder.stop()
    assert results.count(None) == 300  # first writes are new...
    assert set(results) == {None, "<Response/>"}  # ...repeats get the first answer back
    assert query(database_url, "SELECT count(*) FROM calls") == [(300,)]
    assert query(database_url, "SELECT count(*) FROM events") == [(300,)]
    assert recorder.journal.pending == 0


def test_unreachable_database_goes_to_the_journal(tmp_path: Path) -> None:
    db = Database("postgresql+psycopg2://postgres@127.0.0.1:9/none", timeout=1)
    recorder = Recorder(db, Journal(tmp_path / "journal.db"), timeout=1)
    record = call_record()
    assert recorder.record_sync(record) is None
    assert recorder.record_sync(record) == "<Response/>"  # a retry during the outage
    assert recorder.journal.pending == 1
    assert not recorder.database_up


def test_replay_is_idempotent_and_completes_the_call(database_url: str, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    recorder = Recorder(Database(database_url), journal, timeout=5)
    record = call_record()
    # The call reached the database, but its leg and a duplicate of the call were journaled
    # (a write that timed out and then went through anyway).
    assert recorder.record_sync(record) is None
    journal.append([record, leg_record(record.call_sid, "completed", 61)])
    assert recorder.replay() == 2
    assert journal.pending == 0
    assert query(database_url, "SELECT outcome, duration FROM calls") == [("answered", 61)]
    assert query(database_url, "SELECT count(*) FROM events") == [(2,)]
    assert recorder.replay() == 0


def test_journal_survives_a_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    journal.append([call_record(), call_record()])
    journal.close()
    assert Journal(tmp_path / "journal.db").pending == 2


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_answers_that_arrive_while_others_wait_each_get_their_own_timeout(
    postgres_url: str, tmp_path: Path
) -> None:
    """Waiting answers are timed out by one timer at the oldest one's deadline: answers that
    came later are timed out too, each about a timeout after it came, never sooner, and their
    records reach the database through the journal."""
    empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    url = postgres_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{relay.port}")
    timeout = 1.0
    recorder = Recorder(Database(url, timeout=5), Journal(tmp_path / "journal.db"), timeout=timeout)
    recorder.start()
    first = call_record()
    early = [call_record() for _ in range(5)]
    late = [call_record() for _ in range(5)]

    async def timed(record: CallRecord) -> tuple[str | None, float]:
        started = time.monotonic()
        result = await recorder.record(record)
        return result, time.monotonic() - started

    async def calls() -> list[tuple[str | None, float]]:
        assert await recorder.record(first) is None
        relay.freeze()
        waiting = [asyncio.ensure_future(timed(record)) for record in early]
        await asyncio.sleep(timeout / 2)  # the writer is stuck, but not yet for a timeout
        waiting += [asyncio.ensure_future(timed(record)) for record in late]
        return await asyncio.gather(*waiting)

    try:
        outcomes = asyncio.run(calls())
        assert [result for result, _ in outcomes] == [None] * 10
        assert all(timeout * 0.9 <= waited < timeout * 3 for _, waited in outcomes)
        relay.thaw()
        deadline = time.monotonic() + 30
        while recorder.journal.pending and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        recorder.stop()
        relay.close()
    sids = [r.call_sid for r in [first, *early, *late]]
    rows = query(postgres_url, "SELECT call_sid FROM calls")
    assert sorted(sid for (sid,) in rows) == sorted(sids)


@pytest.mark.timeout(60)
def test_a_stalled_database_costs_one_timeout_not_one_per_call(
    postgres_url: str, tmp_path: Path
) -> None:
    """A database that stops answering (no refusal, just silence) must not make every caller
    wait out the timeout: after the first, calls go to the journal while the writer is stuck,
    and everything reaches the database once it answers again."""
    empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    url = postgres_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{relay.port}")
    recorder = Recorder(Database(url, timeout=1), Journal(tmp_path / "journal.db"), timeout=1)
    recorder.start()
    first = call_record()
    stalled = [call_record() for _ in range(100)]

    async def calls() -> list[str | None]:
        assert await recorder.record(first) is None
        relay.freeze()
        # One after another, as callers keep arriving: with a wait of a second each, this
        # would take 100 seconds and the test's own time limit would stop it.
        return [await recorder.record(record) for record in stalled]

    try:
        assert asyncio.run(calls()) == [None] * 100
        assert recorder.journal.pending >= 99
        relay.thaw()
        deadline = time.monotonic() + 30
        while recorder.journal.pending and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        recorder.stop()
        relay.close()
    sids = [r.call_sid for r in [first, *stalled]]
    rows = query(postgres_url, "SELECT call_sid FROM calls")
    assert sorted(sid for (sid,) in rows) == sorted(sids)
