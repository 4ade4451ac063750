"""`backline calls list` on SQLite and PostgreSQL, over calls recorded by the answer path."""

from __future__ import annotations

import pytest

from backline.store.calls import apply
from backline.store.database import Database
from backline.store.records import CallRecord, LegRecord, Record
from tests.cli import as_json, ok, refused

CALL_FIELDS = {
    "call_sid",
    "to",
    "from",
    "error_code",
    "error_url",
    "time",
    "client",
    "route_kind",
    "outcome",
    "duration",
    "destinations",
    "legs",
    "voicemail",
    "declined",
}
LEG_FIELDS = {
    "step",
    "destinations",
    "status",
    "duration",
    "dial_call_sid",
    "time",
    "picked_up_at",
    "accepted",
}


def record(database_url: str, *records: Record) -> None:
    db = Database(database_url)
    connection = db.connect()
    try:
        apply(db, connection, list(records))
        connection.commit()
    finally:
        connection.close()


def call(
    sid: str,
    at: str,
    *,
    outcome: str = "forwarding",
    client: str | None = "Acme",
    destinations: tuple[str, ...] = ("+81312345678", "+81698765432"),
    route_kind: str = "route",
) -> CallRecord:
    return CallRecord(
        call_sid=sid,
        account_sid="AC" + "0" * 32,
        to_number="+815012345678",
        from_number="+819012345678",
        direction="inbound",
        error_code="11200",
        error_url="https://example.com/voice",
        client=client,
        route_kind=route_kind,
        destinations=destinations,
        outcome=outcome,
        answer="<Response/>",
        at=at,
    )


def leg(sid: str, step: int, status: str, at: str, duration: int | None = None) -> LegRecord:
    return LegRecord(
        call_sid=sid,
        step=step,
        to_number="+815012345678",
        from_number="+819012345678",
        client="Acme",
        destinations=(("+81312345678", "+81698765432")[step],),
        dial_call_sid=f"CA-dial-{step}",
        status=status,
        duration=duration,
        outcome="answered" if status == "completed" else "forwarding",
        answer="<Response/>",
        at=at,
    )


def test_no_calls_yet(database_url: str) -> None:
    assert ok(database_url, "calls", "list") == "no calls recorded yet\n"
    assert as_json(database_url, "calls", "list") == []


def test_calls_newest_first_with_their_legs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKLINE_TIMEZONE", "Asia/Tokyo")
    record(
        database_url,
        call("CA1", "2026-11-24T01:00:00.000000Z"),
        leg("CA1", 0, "no-answer", "2026-11-24T01:00:30.000000Z"),
        leg("CA1", 1, "completed", "2026-11-24T01:01:00.000000Z", duration=42),
        call(
            "CA2",
            "2026-11-24T02:00:00.000000Z",
            outcome="unrouted",
            client=None,
            destinations=(),
            route_kind="unknown",
        ),
    )

    listed = as_json(database_url, "calls", "list")

    assert [c["call_sid"] for c in listed] == ["CA2", "CA1"]
    assert all(set(c) == CALL_FIELDS for c in listed)
    first = listed[1]
    assert first["to"] == "+815012345678"
    assert first["from"] == "+819012345678"
    assert first["time"] == "2026-11-24T01:00:00.000000Z"
    assert first["error_code"] == "11200"
    assert first["error_url"] == "https://example.com/voice"
    assert first["client"] == "Acme"
    assert first["route_kind"] == "route"
    assert first["outcome"] == "answered"
    assert first["duration"] == 42
    assert first["destinations"] == ["+81312345678", "+81698765432"]
    assert all(set(leg) == LEG_FIELDS for leg in first["legs"])
    assert [(g["step"], g["destinations"], g["status"], g["duration"]) for g in first["legs"]] == [
        (0, ["+81312345678"], "no-answer", None),
        (1, ["+81698765432"], "completed", 42),
    ]
    assert first["legs"][1]["dial_call_sid"] == "CA-dial-1"
    assert first["legs"][1]["time"] == "2026-11-24T01:01:00.000000Z"
    assert listed[0]["legs"] == []
    assert listed[0]["client"] is None

    # JSON keeps the stored UTC time; people read the configured zone, named.
    assert ok(database_url, "calls", "list").splitlines() == [
        "2026-11-24 11:00:00 JST  +815012345678  from +819012345678  -  unrouted (unknown)",
        "2026-11-24 10:00:00 JST  +815012345678  from +819012345678  Acme  answered 42 s",
        "    1. +81312345678: no-answer",
        "    2. +81698765432: completed 42 s",
    ]


@pytest.mark.parametrize(
    ("variable", "zone", "shown"),
    [
        ("BACKLINE_TIMEZONE", "UTC", "2026-11-24 23:30:00 UTC"),
        ("BACKLINE_TIMEZONE", "America/New_York", "2026-11-24 18:30:00 EST"),
        # the older name still works
        ("BACKLINE_NOTIFY_TIMEZONE", "Europe/Paris", "2026-11-25 00:30:00 CET"),
    ],
)
def test_times_are_shown_in_the_configured_zone_and_named(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, variable: str, zone: str, shown: str
) -> None:
    monkeypatch.delenv("BACKLINE_TIMEZONE", raising=False)
    monkeypatch.setenv(variable, zone)
    record(sqlite_url, call("CA1", "2026-11-24T23:30:00.000000Z"))

    assert ok(sqlite_url, "calls", "list").startswith(f"{shown}  +815012345678")


def test_a_call_still_ringing_shows_where(database_url: str) -> None:
    record(database_url, call("CA1", "2026-11-24T01:00:00.000000Z"))

    out = ok(database_url, "calls", "list")

    assert out.splitlines()[1] == "    ringing +81312345678, +81698765432"
    assert as_json(database_url, "calls", "list")[0]["outcome"] == "forwarding"


def test_limit(database_url: str) -> None:
    record(
        database_url,
        *(call(f"CA{i}", f"2026-11-24T0{i}:00:00.000000Z") for i in range(5)),
    )

    listed = as_json(database_url, "calls", "list", "--limit", "2")

    assert [c["call_sid"] for c in listed] == ["CA4", "CA3"]


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_refused(database_url: str, limit: str) -> None:
    assert "--limit" in refused(database_url, "calls", "list", "--limit", limit)
