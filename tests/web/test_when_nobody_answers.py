"""When nobody can answer, through the running app: every request signed as Twilio signs it,
every URL taken from the TwiML the app gave (the dial outcome, the whisper and its <Gather>
action, the <Record>'s action, recording status and transcription callbacks), and what the
team's Slack stand-in receives. Office hours are tested with a given clock."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from backline.config import Config
from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from backline.manage.numbers import add_number
from backline.service import Service
from backline.web.app import create_app
from tests.cli import invoke
from tests.standins import StandIn
from tests.support import (
    PUBLIC_URL,
    dial_params,
    fallback_params,
    new_call_sid,
    query,
    signed_post,
    wait_for,
)

TWILIO = "+815031234567"
OFFICE = ("+81312345678", "+819011112222")
CALLER = "+819012345678"
FALLBACK = f"{PUBLIC_URL}/twilio/voice/fallback"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "a" * 32
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
FAST_NOTIFY = {
    "notify_language": "en",
    "notify_quiet_seconds": 0.0,
    "notify_min_interval_seconds": 0.0,
    "notify_poll_seconds": 0.1,
}


def at(text: str, zone: ZoneInfo = TOKYO) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


class Clock:
    """The time the app is told it is; the tests move it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Twilio:
    """Requests as Twilio makes them: to an absolute URL of the app's own TwiML (or the
    fallback URL configured in the console), signed over that exact URL."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, url: str | None, params: dict[str, str]) -> ElementTree.Element:
        assert url is not None and url.startswith(PUBLIC_URL), url
        path_and_query = url[len(PUBLIC_URL) :]
        body, headers = signed_post(path_and_query, params)
        response = self.client.post(path_and_query, content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return ElementTree.fromstring(response.content)


@pytest.fixture
def running(
    make_config: Callable[..., Config], stand_in: StandIn
) -> Iterator[Callable[..., Twilio]]:
    """The real app (its dispatcher included) telling a Slack stand-in, on a given clock."""
    started: list[TestClient] = []

    def start(database_url: str, clock: Callable[[], float] | None = None) -> Twilio:
        engine = make_engine(database_url)
        try:
            add_channel(engine, "slack", stand_in.url, allow_private=True)
        finally:
            engine.dispose()
        config = make_config(database_url, **FAST_NOTIFY)
        service = Service(config, clock=clock) if clock else Service(config)
        client = TestClient(create_app(service=service), base_url="http://10.0.0.7:8000")
        client.__enter__()
        started.append(client)
        return Twilio(client)

    yield start
    for client in started:
        client.__exit__(None, None, None)


def add(database_url: str, number: str = TWILIO, **fields: Any) -> None:
    engine = make_engine(database_url)
    try:
        fields.setdefault("destinations", OFFICE)
        fields.setdefault("client", "Sakura Dental")
        add_number(engine, number, new_client=True, **fields)
    finally:
        engine.dispose()


def calls_list(database_url: str) -> str:
    """`backline calls list`, run in this process while the app runs in it too (so standard
    error may carry the app's log lines: only the output is looked at)."""
    result = invoke(database_url, "calls", "list")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def tags(root: ElementTree.Element) -> list[str]:
    return [child.tag for child in root]


def texts(stand_in: StandIn) -> list[str]:
    return stand_in.texts()


# -- 1. voicemail -----------------------------------------------------------------------------
def recording_status(
    call: dict[str, str], status: str = "completed", **more: str
) -> dict[str, str]:
    """Twilio's recording status request (it names the call, not the caller or the number)."""
    return {
        "AccountSid": call["AccountSid"],
        "CallSid": call["CallSid"],
        "RecordingSid": "RE" + "a" * 32,
        "RecordingUrl": RECORDING,
        "RecordingStatus": status,
        "RecordingDuration": "12" if status == "completed" else "0",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Tue, 24 Nov 2026 01:00:40 +0000",
        **more,
    }


def test_nobody_answers_the_caller_leaves_a_voicemail_and_the_team_gets_its_link(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    add(database_url, mode="sequential", when_unanswered="voicemail")
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_=CALLER)

    first = twilio.post(FALLBACK, call)
    second = twilio.post(first[0].get("action"), dial_params(call, "no-answer"))
    assert [n.text for n in second.iter("Number")] == [OFFICE[1]]
    last = twilio.post(second[0].get("action"), dial_params(call, "busy"))
    assert tags(last) == ["Say", "Say", "Record", "Hangup"]
    assert "recorded" in (last[1].text or "") or "録音" in (last[1].text or "")
    record = last[2]
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#"

    # The caller speaks, presses #: Twilio requests the <Record>'s action, which ends the call.
    done = twilio.post(
        record.get("action"), dict(call, RecordingUrl=RECORDING, RecordingDuration="12", Digits="#")
    )
    assert tags(done) == ["Hangup"]
    # The recording is ready: Twilio's status request, at the URL the TwiML gave.
    status_url = record.get("recordingStatusCallback")
    assert tags(twilio.post(status_url, recording_status(call))) == []
    twilio.post(status_url, recording_status(call))  # Twilio retries: told once

    wait_for(
        lambda: any(text.startswith("Voicemail: ") for text in texts(stand_in)),
        what="the voicemail",
    )
    voicemail = next(text for text in texts(stand_in) if text.startswith("Voicemail: "))
    assert "Sakura Dental" in voicemail
    assert f"Number: {TWILIO}" in voicemail and f"Caller: {CALLER}" in voicemail
    assert "Length: 12s" in voicemail and f"Recording: {RECORDING}" in voicemail
    # The call itself was told first (its outcome with it, or on its own after it).
    told = texts(stand_in)
    assert told[0].startswith("Diverted call: Sakura Dental")
    assert any("nobody answered, voicemail offered" in text for text in told)
    # Said once, however often Twilio sent it.
    assert sum(text.startswith("Voicemail") for text in texts(stand_in)) == 1

    sid = call["CallSid"]
    assert query(database_url, "SELECT outcome FROM calls WHERE call_sid = :s", s=sid) == [
        ("voicemail",)
    ]
    listed = calls_list(database_url)
    assert f"from {CALLER}  Sakura Dental  voicemail\n" in listed
    assert f"voicemail 12 s: {RECORDING}" in listed


def test_a_caller_who_leaves_no_message_is_told_as_such(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    add(database_url, destinations=(OFFICE[0],), when_unanswered="voicemail")
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_=CALLER)
    last = twilio.post(twilio.post(FALLBACK, call)[0].get("action"), dial_params(call, "no-answer"))
    # An empty recording: Twilio skips the action and reports the recording absent.
    twilio.post(last[2].get("recordingStatusCallback"), recording_status(call, "absent"))
    wait_for(
        lambda: any(t.startswith("Voicemail (no message)") for t in texts(stand_in)),
        what="the no-message notice",
    )
    notice = next(t for t in texts(stand_in) if t.startswith("Voicemail (no message)"))
    assert "hung up without leaving a message" in notice and RECORDING not in notice
    assert "voicemail: no message left (absent)" in calls_list(database_url)


def test_a_transcribed_voicemail_is_told_with_its_words(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    add(database_url, destinations=(OFFICE[0],), when_unanswered="voicemail", transcribe=True)
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_="anonymous")
    last = twilio.post(twilio.post(FALLBACK, call)[0].get("action"), dial_params(call, "busy"))
    record = last[2]
    assert record.get("transcribe") == "true"
    twilio.post(record.get("recordingStatusCallback"), recording_status(call))
    words = "Hello, this is Tanaka. <Please> call me back & soon."
    transcription = {
        "AccountSid": call["AccountSid"],
        "CallSid": call["CallSid"],
        "RecordingSid": "RE" + "a" * 32,
        "RecordingUrl": RECORDING,
        "TranscriptionSid": "TR" + "b" * 32,
        "TranscriptionText": words,
        "TranscriptionStatus": "completed",
        "TranscriptionUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Transcriptions/TR1",
    }
    assert tags(twilio.post(record.get("transcribeCallback"), transcription)) == []
    wait_for(
        lambda: any(t.startswith("Voicemail transcript") for t in texts(stand_in)),
        what="the transcript",
    )
    transcript = next(t for t in texts(stand_in) if t.startswith("Voicemail transcript"))
    # (Slack's text escapes &, < and >, which Slack shows as typed: never as markup.)
    shown = words.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert shown in transcript and "Caller: withheld" in transcript
    assert f"transcript: {words}" in calls_list(database_url)


# -- 2. screening -----------------------------------------------------------------------------
def leg_request(call: dict[str, str], destination: str, **more: str) -> dict[str, str]:
    """A request Twilio makes on a dialled leg (the whisper, its <Gather> action)."""
    return {
        "AccountSid": call["AccountSid"],
        "CallSid": more.pop("CallSid"),
        "ParentCallSid": call["CallSid"],
        "To": destination,
        "Called": destination,
        "From": TWILIO,
        "Caller": TWILIO,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "ApiVersion": "2010-04-01",
        **more,
    }


def test_a_voicemail_that_picks_up_cannot_take_a_screened_call(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    add(database_url, mode="sequential", screen=True)
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_=CALLER)
    first = twilio.post(FALLBACK, call)
    dial = first[0]
    assert dial.get("answerOnBridge") == "true"
    (number,) = dial.iter("Number")
    whisper_url = number.get("url")

    # The first destination's own voicemail answers: it hears the whisper, presses nothing.
    mailbox = new_call_sid()
    whisper = twilio.post(whisper_url, leg_request(call, OFFICE[0], CallSid=mailbox))
    assert tags(whisper) == ["Gather", "Hangup"]
    gather = whisper[0]
    assert gather.get("numDigits") == "1"
    assert "Sakura Dental" in (gather[0].text or "")
    # No key: Twilio runs past the <Gather> into the <Hangup>; that leg ends without joining the
    # caller. Whether Twilio calls it no-answer or completed, DialBridged=false: the hunt goes on.
    second = twilio.post(dial.get("action"), dial_params(call, "completed", bridged=False))
    (number,) = second[0].iter("Number")
    assert number.text == OFFICE[1] and number.get("url") == whisper_url

    # A person picks up the second and presses 1: connected.
    person = new_call_sid()
    whisper = twilio.post(whisper_url, leg_request(call, OFFICE[1], CallSid=person))
    accepted = twilio.post(
        whisper[0].get("action"), leg_request(call, OFFICE[1], CallSid=person, Digits="1")
    )
    assert tags(accepted) == []  # an empty answer ends the whisper: Twilio bridges
    answered = dict(dial_params(call, "completed", duration=60), DialCallSid=person)
    assert tags(twilio.post(second[0].get("action"), answered)) == ["Hangup"]

    wait_for(lambda: any("answered (1m 00s)" in t for t in texts(stand_in)), what="outcome")
    listed = calls_list(database_url)
    assert f"2. {OFFICE[1]}: completed 60 s, taken by {OFFICE[1]} (screened)" in listed
    assert "1. " in listed and "no-answer" in listed


def test_another_key_declines_and_the_one_who_accepts_is_the_one_recorded(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    add(database_url, screen=True)
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_=CALLER)
    dial = twilio.post(FALLBACK, call)[0]
    assert [n.text for n in dial.iter("Number")] == list(OFFICE)
    whisper_url = next(dial.iter("Number")).get("url")
    busy_person, free_person = new_call_sid(), new_call_sid()
    gather = twilio.post(whisper_url, leg_request(call, OFFICE[0], CallSid=busy_person))[0]
    declined = twilio.post(
        gather.get("action"), leg_request(call, OFFICE[0], CallSid=busy_person, Digits="9")
    )
    assert tags(declined) == ["Hangup"]
    gather = twilio.post(whisper_url, leg_request(call, OFFICE[1], CallSid=free_person))[0]
    twilio.post(gather.get("action"), leg_request(call, OFFICE[1], CallSid=free_person, Digits="1"))
    twilio.post(
        dial.get("action"),
        dict(dial_params(call, "completed", duration=30), DialCallSid=free_person),
    )

    listed = calls_list(database_url)
    assert f"taken by {OFFICE[1]} (screened)" in listed
    assert f"picked up and declined by {OFFICE[0]} (screened)" in listed
    rows = query(
        database_url, "SELECT destination, digits, accepted FROM screenings ORDER BY digits"
    )
    assert [(d, k, bool(a)) for d, k, a in rows] == [
        (OFFICE[1], "1", True),
        (OFFICE[0], "9", False),
    ]


def test_forged_callbacks_are_refused_and_change_nothing(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    add(database_url, when_unanswered="voicemail", screen=True)
    twilio = running(database_url)
    call = fallback_params(TWILIO, from_=CALLER)
    for path in (
        "/twilio/voice/screen?number=%2B815031234567",
        "/twilio/voice/screen-answer?number=%2B815031234567",
        "/twilio/voice/voicemail",
        "/twilio/voice/recording-status?number=%2B815031234567&caller=%2B819012345678",
        "/twilio/voice/transcription?number=%2B815031234567&caller=%2B819012345678",
    ):
        body, headers = signed_post(path, recording_status(call), token="0" * 32)
        response = twilio.client.post(path, content=body, headers=headers)
        assert response.status_code == 403, path
        # Signed, but our own URL's query changed on the way (another caller, say): refused.
        signed_body, signed_headers = signed_post(path, recording_status(call))
        tampered = (
            path.replace("%2B8190", "%2B8170")
            if "caller" in path
            else path + ("&" if "?" in path else "?") + "number=%2B815031230000"
        )
        response = twilio.client.post(tampered, content=signed_body, headers=signed_headers)
        assert response.status_code == 403, tampered
    assert query(database_url, "SELECT count(*) FROM voicemails") == [(0,)]
    assert query(database_url, "SELECT count(*) FROM screenings") == [(0,)]


# -- 3. office hours and closed days ----------------------------------------------------------
def test_closing_time_on_both_sides_and_the_memo_never_serves_an_open_answer_late(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    add(
        database_url,
        hours=["mon-fri 09:00-18:00"],
        timezone="Asia/Tokyo",
        closed_message="We are closed. Our hours are 9 to 6 on weekdays.",
    )
    clock = Clock(at("2026-11-24T17:59:59"))
    twilio = running(database_url, clock)
    # The same number and caller a second apart: one answer is memoised, the other is not.
    open_call = fallback_params(TWILIO, from_=CALLER)
    assert tags(twilio.post(FALLBACK, open_call)) == ["Dial"]
    clock.now = at("2026-11-24T18:00:00")
    closed_call = fallback_params(TWILIO, from_=CALLER)
    closed = twilio.post(FALLBACK, closed_call)
    assert tags(closed) == ["Say", "Hangup"]
    assert closed[0].text == "We are closed. Our hours are 9 to 6 on weekdays."
    clock.now = at("2026-11-25T08:59:59")
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO, from_=CALLER))) == ["Say", "Hangup"]
    clock.now = at("2026-11-25T09:00:00")
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO, from_=CALLER))) == ["Dial"]

    assert query(
        database_url,
        "SELECT outcome, route_kind FROM calls WHERE call_sid = :s",
        s=closed_call["CallSid"],
    ) == [("closed", "closed")]
    wait_for(lambda: any("outside office hours" in t for t in texts(stand_in)), what="closed call")
    told = next(t for t in texts(stand_in) if "outside office hours" in t)
    assert "Sakura Dental" in told
    assert "closed (outside hours)" in calls_list(database_url)


def test_hours_are_read_in_each_numbers_own_time_zone(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    new_york = "+12125550100"
    add(database_url, hours=["mon-fri 09:00-18:00"], timezone="Asia/Tokyo")
    add(database_url, new_york, hours=["mon-fri 09:00-18:00"], timezone="America/New_York")
    clock = Clock(at("2026-11-24T10:00:00"))  # Tuesday 10:00 in Tokyo, Monday 20:00 in New York
    twilio = running(database_url, clock)
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO))) == ["Dial"]
    assert tags(twilio.post(FALLBACK, fallback_params(new_york))) == ["Say", "Hangup"]
    clock.now = at("2026-11-23T09:00:00", NEW_YORK)  # Monday 09:00 in New York, 23:00 in Tokyo
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO))) == ["Say", "Hangup"]
    assert tags(twilio.post(FALLBACK, fallback_params(new_york))) == ["Dial"]


def test_public_holidays_and_closed_days_close_the_number(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    add(database_url, hours=["daily 00:00-24:00"], holidays="JP", closed_on=["2026-12-31"])
    clock = Clock(at("2026-11-23T12:00:00"))  # Labour Thanksgiving Day, a Japanese holiday
    twilio = running(database_url, clock)
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO))) == ["Say", "Hangup"]
    clock.now = at("2026-11-24T12:00:00")
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO))) == ["Dial"]
    clock.now = at("2026-12-31T23:59:59")
    assert tags(twilio.post(FALLBACK, fallback_params(TWILIO))) == ["Say", "Hangup"]


def test_closed_calls_can_be_forwarded_or_take_messages(
    database_url: str, running: Callable[..., Twilio], stand_in: StandIn
) -> None:
    on_call, mailbox = "+815031230001", "+815031230002"
    add(database_url, on_call, hours=["mon-fri 09:00-18:00"],
        when_closed="forward:+819055556666", closed_message="Closed.")  # fmt: skip
    add(database_url, mailbox, hours=["mon-fri 09:00-18:00"], when_closed="voicemail")
    twilio = running(database_url, Clock(at("2026-11-28T10:00:00")))  # a Saturday

    call = fallback_params(on_call, from_=CALLER)
    dial = twilio.post(FALLBACK, call)[0]
    assert [n.text for n in dial.iter("Number")] == ["+819055556666"]
    assert dial.get("action", "").endswith("step=0&closed=1")
    # The on-call phone does not answer: the closed message, as Twilio follows the action.
    after = twilio.post(dial.get("action"), dial_params(call, "no-answer"))
    assert tags(after) == ["Say", "Hangup"] and after[0].text == "Closed."

    message_call = fallback_params(mailbox, from_=CALLER)
    taken = twilio.post(FALLBACK, message_call)
    assert tags(taken) == ["Say", "Say", "Record", "Hangup"]
    twilio.post(taken[2].get("recordingStatusCallback"), recording_status(message_call))
    wait_for(
        lambda: any(t.startswith("Voicemail: ") and mailbox in t for t in texts(stand_in)),
        what="the closed number's voicemail",
    )
    assert query(
        database_url, "SELECT route_kind FROM calls WHERE call_sid = :s", s=call["CallSid"]
    ) == [("closed",)]


def test_a_call_that_began_before_closing_time_rings_on_after_it(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    add(database_url, mode="sequential", hours=["mon-fri 09:00-18:00"])
    clock = Clock(at("2026-11-24T17:59:50"))
    twilio = running(database_url, clock)
    call = fallback_params(TWILIO, from_=CALLER)
    dial = twilio.post(FALLBACK, call)[0]
    clock.now = at("2026-11-24T18:00:20")
    after = twilio.post(dial.get("action"), dial_params(call, "no-answer"))
    assert [n.text for n in after.iter("Number")] == [OFFICE[1]]


# -- 4. better ringing ------------------------------------------------------------------------
def test_the_caller_hears_the_ring_tone_and_is_answered_on_bridge(
    database_url: str, running: Callable[..., Twilio]
) -> None:
    add(database_url, ring_tone="jp", answer_on_bridge=True)
    twilio = running(database_url)
    dial = twilio.post(FALLBACK, fallback_params(TWILIO))[0]
    assert dial.get("ringTone") == "jp" and dial.get("answerOnBridge") == "true"
    assert dial.get("timeout") == "30"
