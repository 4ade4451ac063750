"""No poison records: a value the database refuses must never hold up the records after it.

A NUL in a caller field (PostgreSQL refuses it) or an out-of-range DialCallDuration used to
send a record to the journal whose replay then failed on it for ever, with every later call
stuck behind it. Values are now cleaned at the boundary; a record the database still refuses is
set aside (shown and retried by `backline journal`) and counted in /healthz."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backline.manage.migrate import upgrade
from backline.store.database import Database
from backline.store.journal import Journal
from backline.store.recorder import Recorder
from backline.store.records import CallRecord, record_to_json
from tests.abuse.conftest import (
    FALLBACK,
    OFFICE,
    STATUS,
    TWILIO,
    run_backline,
    serve_env,
    signed_call,
    wait_for,
)
from tests.processes import PrivatePostgres, Server
from tests.support import (
    accept_everyone,
    add_number,
    dial_params,
    fallback_params,
    new_call_sid,
    query,
    refuse_caller,
    signed_post,
)

POISON_CALLER = "+819000000666"


def post(client: TestClient, path: str, params: dict[str, str]) -> str:
    body, headers = signed_post(path, params)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.text)


def test_values_from_the_request_are_cleaned_before_the_database_sees_them(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url)
    call = fallback_params(
        TWILIO,
        from_="+8190\x0012345678\x1b[31m",
        error_url="https://admin:hunter2@ivr.example.com/twilio/incoming?token=s3cret#frag",
    )
    call["Direction"] = "inbound\x00\r\nX-Injected: 1"
    assert "<Dial" in post(client, FALLBACK, call)
    leg = dial_params(call, "completed")
    leg["DialCallDuration"] = "99999999999999999999"
    step = "/twilio/voice/dial-status?step=99999999999"
    assert "<Hangup" in post(client, step, leg)
    # A negative duration and a step that is not a number are not facts either.
    other = fallback_params(TWILIO)
    post(client, FALLBACK, other)
    post(client, f"{STATUS}?step=-3", dict(dial_params(other, "completed"), DialCallDuration="-5"))

    rows = query(
        database_url,
        "SELECT from_number, direction, error_url, outcome, duration FROM calls "
        "WHERE call_sid = :sid",
        sid=call["CallSid"],
    )
    assert rows == [
        (
            "+819012345678[31m",
            "inboundX-Injected: 1",
            "https://ivr.example.com/twilio/incoming",
            "answered",
            None,
        )
    ]
    legs = query(database_url, "SELECT call_sid, step, duration FROM legs ORDER BY call_sid")
    assert sorted(legs) == sorted([(call["CallSid"], 0, None), (other["CallSid"], 0, None)])
    assert client.get("/healthz").json()["journal_pending"] == 0


@pytest.mark.slow
def test_a_record_the_database_refuses_is_set_aside_and_every_other_one_replays(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    refuse_caller(postgres.url, POISON_CALLER)
    env = serve_env(postgres.url, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        postgres.stop()
        during = [signed_call(server, from_=caller)[0]["CallSid"] for caller in (
            "+819000000001", POISON_CALLER, "+819000000002", "+819000000003"
        )]  # fmt: skip
        assert server.health()["journal_pending"] == 4

        postgres.start()
        wait_for(lambda: server.health()["journal_pending"] == 0, what="the replay")
        stored = {row[0] for row in query(postgres.url, "SELECT call_sid FROM calls")}
        assert stored == {during[0], during[2], during[3]}
        health = server.health()
        assert health["set_aside"] == 1 and health["status"] == "degraded"

        # With the database up, a refused call is set aside at once; the next is stored.
        poison_now = signed_call(server, from_=POISON_CALLER)[0]["CallSid"]
        after = signed_call(server)[0]["CallSid"]
        wait_for(lambda: server.health()["set_aside"] == 2, what="the second one set aside")
        stored = {row[0] for row in query(postgres.url, "SELECT call_sid FROM calls")}
        assert after in stored and poison_now not in stored

        shown = run_backline(env, "journal", "show", "--json")
        assert shown.returncode == 0, shown.stderr
        listing = json.loads(shown.stdout)
        assert [entry["record"] for entry in listing["set_aside"]] == [
            f"call:{during[1]}",
            f"call:{poison_now}",
        ]
        assert all("no_poison" in entry["reason"] for entry in listing["set_aside"])

        refused = run_backline(env, "journal", "retry")
        assert refused.returncode == 1 and "still refused" in refused.stdout

        accept_everyone(postgres.url)
        retried = run_backline(env, "journal", "retry")
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert retried.stdout.count("stored") == 2
        stored = {row[0] for row in query(postgres.url, "SELECT call_sid FROM calls")}
        assert {during[1], poison_now} <= stored
        wait_for(lambda: server.health()["status"] == "ok", what="health back to ok")
        assert server.health()["set_aside"] == 0
    finally:
        server.stop()


def test_a_refused_record_is_set_aside_on_sqlite_too(sqlite_url: str, client_for) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    refuse_caller(sqlite_url, POISON_CALLER)
    client = client_for(sqlite_url)
    poison = fallback_params(TWILIO, from_=POISON_CALLER)
    fine = fallback_params(TWILIO)
    assert "<Dial" in post(client, FALLBACK, poison)
    assert "<Dial" in post(client, FALLBACK, fine)
    stored = {row[0] for row in query(sqlite_url, "SELECT call_sid FROM calls")}
    assert stored == {fine["CallSid"]}
    health = client.get("/healthz").json()
    assert health["set_aside"] == 1 and health["database"] == "up"


def test_a_journal_written_before_the_cleaning_rules_still_replays(
    database_url: str, tmp_path: Path
) -> None:
    """Records journaled by an older version, a NUL and all, go into the database cleaned."""
    journal_path = tmp_path / "journal.db"
    Journal(journal_path).close()
    raw = sqlite3.connect(journal_path)
    sids = [new_call_sid() for _ in range(3)]
    for index, sid in enumerate(sids):
        record = CallRecord(
            call_sid=sid,
            account_sid="AC" + "1" * 32,
            to_number=TWILIO,
            from_number="+81\x0090" if index == 1 else "+819012345678",
            direction="inbound",
            error_code="11200",
            error_url="https://u:p@ivr.example.com/?k=v",
            client=None,
            route_kind="route",
            destinations=OFFICE,
            outcome="forwarding",
            answer="<Response/>",
            at="2026-11-24T05:00:00.000000Z",
        )
        kind, payload = record_to_json(record)
        raw.execute(
            "INSERT INTO records (key, kind, payload, answer) VALUES (?, ?, ?, ?)",
            (record.key, kind, payload, record.answer),
        )
    raw.commit()
    raw.close()

    journal = Journal(journal_path)
    recorder = Recorder(Database(database_url), journal, timeout=2.0)
    assert recorder.replay() == 3
    assert journal.pending == 0 and journal.set_aside_count() == 0
    rows = query(database_url, "SELECT call_sid, from_number, error_url FROM calls")
    assert sorted(rows) == sorted(
        [
            (sids[0], "+819012345678", "https://ivr.example.com/"),
            (sids[1], "+8190", "https://ivr.example.com/"),
            (sids[2], "+819012345678", "https://ivr.example.com/"),
        ]
    )
