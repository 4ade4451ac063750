"""The callbacks' records (a voicemail, its transcription, a screened leg's key) on their way to
the database and through the local journal: cleaned, idempotent, in either order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backline.store import calls
from backline.store.callback_records import ScreenRecord, TranscriptionRecord, VoicemailRecord
from backline.store.database import Database, utc_now
from backline.store.journal import Journal
from backline.store.records import record_from_json, record_to_json
from tests.support import query

SID = "CA" + "1" * 32
RECORDING = "RE" + "2" * 32
URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + RECORDING


def voicemail(status: str = "completed", url: str = URL) -> VoicemailRecord:
    return VoicemailRecord.build(
        call_sid=SID,
        recording_sid=RECORDING,
        number="+815031234567",
        caller="+819012345678",
        client="Sakura Dental",
        url=url,
        duration=12,
        status=status,
        answer="<Response/>",
        at=utc_now(),
    )


def transcription(text: str = "Please call me back.") -> TranscriptionRecord:
    return TranscriptionRecord.build(
        call_sid=SID,
        recording_sid=RECORDING,
        number="+815031234567",
        caller="+819012345678",
        client="Sakura Dental",
        url=URL,
        text=text,
        status="completed" if text else "failed",
        answer="<Response/>",
        at=utc_now(),
    )


def screen(digits: str) -> ScreenRecord:
    return ScreenRecord.build(
        call_sid="CA" + "3" * 32,
        parent_call_sid=SID,
        number="+815031234567",
        destination="+81312345678",
        digits=digits,
        accepted=digits == "1",
        answer="<Response/>",
        at=utc_now(),
    )


def apply(database_url: str, *records: object) -> None:
    db = Database(database_url)
    connection = db.connect()
    try:
        calls.apply(db, connection, list(records))  # type: ignore[arg-type]
        connection.commit()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "record", [voicemail(), transcription(), screen("1")], ids=["voicemail", "text", "screen"]
)
def test_each_kind_survives_the_journal(record: object, tmp_path: Path) -> None:
    kind, text = record_to_json(record)  # type: ignore[arg-type]
    assert record_from_json(kind, text) == record
    journal = Journal(tmp_path / "journal.db")
    assert journal.append([record]) == [None]  # type: ignore[list-item]
    assert journal.append([record]) == [record.answer]  # type: ignore[attr-defined,list-item]
    assert [found for _seq, found in journal.oldest(10)] == [record]
    journal.close()


def test_values_from_the_request_are_cleaned_and_bounded() -> None:
    odd = voicemail(url="javascript:alert(1)")
    assert odd.recording_url == ""
    assert voicemail(url="https://x/" + "a" * 600).recording_url == ""
    assert voicemail(url="https://api.twilio.com/a b").recording_url == ""
    long = transcription("x\x00y\n" * 2000)
    assert len(long.text) == 2000 and "\x00" not in long.text and "\n" not in long.text


def test_a_voicemail_is_stored_once_and_told_once(database_url: str) -> None:
    apply(database_url, voicemail(), voicemail())
    rows = query(database_url, "SELECT call_sid, status, recording_url, duration FROM voicemails")
    assert rows == [(SID, "completed", URL, 12)]
    events = query(database_url, "SELECT id, kind, payload FROM events")
    assert [(i, k) for i, k, _ in events] == [(f"{SID}:voicemail", "voicemail")]
    payload = json.loads(events[0][2])
    assert payload["recording_url"] == URL and payload["from"] == "+819012345678"


def test_a_transcription_may_come_before_or_after_its_recording(database_url: str) -> None:
    apply(database_url, transcription())
    apply(database_url, voicemail())
    assert query(database_url, "SELECT status, transcription FROM voicemails") == [
        ("completed", "Please call me back.")
    ]
    assert sorted(k for (k,) in query(database_url, "SELECT kind FROM events")) == [
        "transcription",
        "voicemail",
    ]


def test_a_failed_transcription_is_not_told(database_url: str) -> None:
    apply(database_url, voicemail(), transcription(""))
    assert [k for (k,) in query(database_url, "SELECT kind FROM events")] == ["voicemail"]


def test_a_screened_leg_keeps_its_first_key(database_url: str) -> None:
    apply(database_url, screen("1"), screen("1"))
    assert query(database_url, "SELECT destination, digits, accepted FROM screenings") == [
        ("+81312345678", "1", True)
    ]
    assert query(database_url, "SELECT count(*) FROM events") == [(0,)]
