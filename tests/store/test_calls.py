"""The answer path's SQL: a group commit's batch of new calls goes in as multi-row inserts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backline.core.models import Call, Defaults, Route
from backline.core.planner import plan_first
from backline.store import calls
from backline.store.database import Connection, Database
from backline.store.records import CallRecord, Record
from backline.store.snapshot import SnapshotKeeper
from tests.support import new_call_sid, query

ROUTE = Route("+815031234567", ("+81312345678", "+81312345679"))


def call_record(index: int) -> CallRecord:
    call = Call(
        call_sid=new_call_sid(),
        to=ROUTE.number,
        from_=f"+8190{index:08d}",
        error_code="11200",
        error_url="https://ivr.example.com/voice",
    )
    plan = plan_first(call, ROUTE, Defaults(), now=0.0)
    return CallRecord.build(
        call, plan, f"<Response>{index}</Response>", f"2026-11-24T05:00:{index % 60:02d}.000000Z"
    )


def test_a_batch_larger_than_one_statement_lands_whole_and_in_its_columns(
    database_url: str,
) -> None:
    # 150 calls of 15 values each pass SQLite's 999 parameters per statement several times over.
    new_calls = [call_record(index) for index in range(150)]
    records: list[Record] = list(new_calls)
    db = Database(database_url)
    connection = db.connect()
    try:
        assert calls.apply(db, connection, records) == [None] * 150
        connection.commit()
        # The same batch again (Twilio repeating every request): the first answers, nothing new.
        again = calls.apply(db, connection, records)
        connection.commit()
    finally:
        connection.close()
    assert again == [record.answer for record in new_calls]
    assert query(database_url, "SELECT count(*) FROM calls") == [(150,)]
    assert query(database_url, "SELECT count(*) FROM events") == [(150,)]
    last = new_calls[-1]
    row = query(
        database_url,
        "SELECT call_sid, to_number, from_number, error_code, error_url, destinations, outcome, "
        "duration, answer, created_at, updated_at FROM calls WHERE call_sid = :sid",
        sid=last.call_sid,
    )
    assert row == [
        (
            last.call_sid,
            ROUTE.number,
            last.from_number,
            "11200",
            "https://ivr.example.com/voice",
            json.dumps(list(ROUTE.destinations)),
            last.outcome,
            None,
            last.answer,
            last.at,
            last.at,
        )
    ]
    event = query(
        database_url,
        "SELECT id, kind, fanned_out FROM events WHERE call_sid = :sid",
        sid=last.call_sid,
    )
    assert [(e[0], e[1], bool(e[2])) for e in event] == [
        (f"{last.call_sid}:diverted", "diverted", False)
    ]


def test_an_unchanged_table_keeps_its_snapshot(database_url: str, tmp_path: Path) -> None:
    # The answers' memo knows routes by identity: a refresh that finds nothing new must keep
    # them, and one that finds a change must not.
    keeper = SnapshotKeeper(Database(database_url), tmp_path / "state")
    (tmp_path / "state").mkdir()
    first = keeper.start()
    assert keeper.refresh()
    assert keeper.current is first
    db = Database(database_url)
    connection = db.connect()
    connection.cursor().execute(
        db.sql(
            "INSERT INTO numbers (number, destinations, mode, ring_timeout, caller_id, enabled, "
            "created_at, updated_at) VALUES ('+815000000001', '[\"+81312345678\"]', "
            "'simultaneous', 20, 'twilio-number', :on, 'now', 'now')"
        ),
        {"on": True},
    )
    connection.commit()
    connection.close()
    assert keeper.refresh()
    assert keeper.current is not first
    assert keeper.current.route_for("+815000000001") is not None


def test_a_retry_gets_the_first_answer_and_adds_nothing_in_or_across_batches(
    database_url: str,
) -> None:
    first = call_record(1)
    # The answer carries what SQL quoting must survive: quotes, a percent sign, a backslash.
    other = replace(call_record(2), answer="<Response><Say>it's 100%s \\ done</Say></Response>")
    # Retries planned differently (office hours changed, say): their answers are not stored.
    first_again = replace(first, answer="<Response>changed</Response>", outcome="closed")
    other_again = replace(other, answer="<Response>changed</Response>")
    db = Database(database_url)
    connection = db.connect()
    try:
        assert calls.apply(db, connection, [first]) == [None]
        connection.commit()
        results = calls.apply(db, connection, [first_again, other, other_again])
        connection.commit()
    finally:
        connection.close()
    assert results == [first.answer, None, other.answer]
    assert query(
        database_url, "SELECT call_sid, answer, outcome FROM calls ORDER BY from_number"
    ) == [
        (first.call_sid, first.answer, first.outcome),
        (other.call_sid, other.answer, other.outcome),
    ]
    assert query(database_url, "SELECT call_sid, kind FROM events ORDER BY id") == sorted(
        [(first.call_sid, "diverted"), (other.call_sid, "diverted")]
    )


@pytest.fixture(scope="module")
def postgres_connection(postgres_url: str) -> Iterator[Connection]:
    connection = Database(postgres_url).connect()
    yield connection
    connection.close()


# Any text PostgreSQL can hold: no NUL, no lone surrogates (records are cleaned of both).
_storable = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))

# What has a meaning of its own in an array literal.
_awkward = st.sampled_from(['"', "\\", "{}", "NULL", " a,b "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _storable, _awkward)))
def test_a_text_array_reads_back_as_the_values_it_was_built_from(
    postgres_connection: Connection, values: list[str | None]
) -> None:
    cursor: Any = postgres_connection.cursor()
    cursor.execute("SELECT %s::text[]", (calls.text_array(values),))
    assert cursor.fetchone()[0] == values
    postgres_connection.rollback()


def test_a_call_of_awkward_values_lands_as_it_was_given(database_url: str) -> None:
    # What array literals and SQL quoting must both survive, in every column that is sent.
    awkward = replace(
        call_record(3),
        account_sid='AC"1\\',
        from_number="NULL",
        error_url="https://ivr.example.com/{voice},x",
        client=None,
        answer="<Response><Say>「営業時間外」 it's 100%s \\ done, {ok}</Say></Response>",
    )
    named = replace(call_record(4), client=' "NULL" ')
    db = Database(database_url)
    connection = db.connect()
    try:
        assert calls.apply(db, connection, [awkward, named]) == [None, None]
        connection.commit()
    finally:
        connection.close()
    assert query(
        database_url,
        "SELECT account_sid, from_number, error_url, client, answer, duration FROM calls "
        "ORDER BY to_number, created_at",
    ) == [
        (awkward.account_sid, "NULL", awkward.error_url, None, awkward.answer, None),
        (named.account_sid, named.from_number, named.error_url, ' "NULL" ', named.answer, None),
    ]
    payloads = query(database_url, "SELECT payload FROM events ORDER BY created_at")
    assert [json.loads(str(row[0]))["client"] for row in payloads] == [None, ' "NULL" ']
