"""The planner when nobody can answer: voicemail, screening, closed hours, better ringing."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.hours import Schedule, is_open, windows_of
from backline.core.models import Call, Defaults, Dial, Gather, Hangup, Record, Route, Say
from backline.core.phrases import PHRASES
from backline.core.planner import (
    closed_now,
    may_record,
    plan_after_leg,
    plan_first,
    plan_screen_answer,
    plan_whisper,
    resumed_step,
)
from backline.core.twiml import render, render_verbs
from tests.core.test_planner import LINKS, STATUS_URL

TWILIO = "+815031234567"
OFFICE = ("+81312345678", "+819011112222")
CALLER = "+819099998888"
CALL = Call(call_sid="CA1", to=TWILIO, from_=CALLER, call_status="in-progress")
TOKYO = ZoneInfo("Asia/Tokyo")
HOURS = Schedule("Asia/Tokyo", windows_of(["mon-fri 09:00-18:00"]), ("2026-12-31",))


def at(text: str, zone: ZoneInfo = TOKYO) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


OPEN = at("2026-11-24T10:00:00")  # a Tuesday morning
CLOSED = at("2026-11-24T19:00:00")  # the same evening


def route(**fields: object) -> Route:
    return Route(TWILIO, OFFICE, mode="sequential", client="Sakura Dental", **fields)  # type: ignore[arg-type]


def last_leg(r: Route, defaults: Defaults = Defaults(), *, closed: bool = False) -> object:
    """The answer after the last leg of a sequential route went unanswered."""
    step = 0 if closed else len(r.destinations) - 1
    return plan_after_leg(CALL, r, defaults, step, "no-answer", closed=closed)


# -- 1. voicemail ---------------------------------------------------------------------------------
def test_nobody_answers_a_voicemail_number_the_caller_leaves_a_message() -> None:
    plan = plan_after_leg(CALL, route(when_unanswered="voicemail"), Defaults(), 1, "no-answer")
    message, announced, record, end = plan.verbs
    assert isinstance(message, Say) and message.text == Defaults().message
    assert isinstance(announced, Say) and announced.text == PHRASES["ja"].voicemail
    assert (announced.language, announced.voice) == (message.language, message.voice)
    assert record == Record(120, False, TWILIO, CALLER)
    assert isinstance(end, Hangup)  # an empty recording continues here
    assert plan.outcome == "voicemail" and plan.route_kind == "route"


def test_the_hunt_goes_on_before_the_voicemail() -> None:
    plan = plan_after_leg(CALL, route(when_unanswered="voicemail"), Defaults(), 0, "busy")
    assert plan.dial is not None and plan.dial.destinations == (OFFICE[1],)


def test_apology_stays_the_default_and_a_global_default_turns_voicemail_on() -> None:
    plan = plan_after_leg(CALL, route(), Defaults(), 1, "no-answer")
    assert [type(v) for v in plan.verbs] == [Say, Hangup] and plan.outcome == "no-answer"
    everywhere = Defaults(when_unanswered="voicemail", voicemail_max_length=300, transcribe=True)
    plan = plan_after_leg(CALL, route(), everywhere, 1, "no-answer")
    assert Record(300, True, TWILIO, CALLER) in plan.verbs
    # A number's own choice wins over the global one.
    plan = plan_after_leg(CALL, route(when_unanswered="apology"), everywhere, 1, "no-answer")
    assert [type(v) for v in plan.verbs] == [Say, Hangup]
    own = route(when_unanswered="voicemail", voicemail_max_length=60, transcribe=False)
    assert (
        Record(60, False, TWILIO, CALLER)
        in plan_after_leg(CALL, own, everywhere, 1, "no-answer").verbs
    )


def test_answered_and_hung_up_calls_never_reach_the_voicemail() -> None:
    r = route(when_unanswered="voicemail")
    assert plan_after_leg(CALL, r, Defaults(), 0, "completed").verbs == (Hangup(),)
    gone = Call(call_sid="CA1", to=TWILIO, from_=CALLER, call_status="completed")
    assert plan_after_leg(gone, r, Defaults(), 1, "no-answer").verbs == (Hangup(),)


def test_a_disabled_number_can_still_take_messages_an_unknown_one_cannot() -> None:
    disabled = route(enabled=False, when_unanswered="voicemail")
    plan = plan_first(CALL, disabled, Defaults(), now=OPEN)
    assert plan.outcome == "voicemail" and plan.route_kind == "disabled"
    everywhere = Defaults(when_unanswered="voicemail")
    plan = plan_first(CALL, None, everywhere, now=OPEN)
    assert [type(v) for v in plan.verbs] == [Say, Hangup] and plan.outcome == "unrouted"


def test_a_voicemail_needs_a_real_number_to_file_the_message_under() -> None:
    odd = Call(call_sid="CA1", to="client:alice", from_=CALLER, call_status="in-progress")
    r = Route("client:alice", OFFICE, when_unanswered="voicemail")
    plan = plan_after_leg(odd, r, Defaults(), 1, "no-answer")
    assert [type(v) for v in plan.verbs] == [Say, Hangup]


@pytest.mark.parametrize(
    ("caller", "in_url"),
    [(CALLER, CALLER), ("anonymous", "anonymous"), ("", ""), ("+81 90<x>", ""), ("9" * 40, "")],
)
def test_only_a_clean_caller_id_goes_into_our_own_url(caller: str, in_url: str) -> None:
    call = Call(call_sid="CA1", to=TWILIO, from_=caller, call_status="in-progress")
    plan = plan_after_leg(call, route(when_unanswered="voicemail"), Defaults(), 1, "busy")
    (record,) = [v for v in plan.verbs if isinstance(v, Record)]
    assert record.caller == in_url


@pytest.mark.parametrize(
    ("language", "voice", "announced_in", "announced_by"),
    [
        ("ja-JP", None, "ja-JP", "Polly.Mizuki"),
        ("ja-JP", "Polly.Takumi", "ja-JP", "Polly.Takumi"),
        ("en-GB", None, "en-GB", "Polly.Amy"),
        ("en-US", "Polly.Matthew", "en-US", "Polly.Matthew"),
        ("ko-KR", None, "ko-KR", "Polly.Seoyeon"),
        # No phrases in French: English, in an English voice rather than a French one.
        ("fr-FR", None, "en-US", "Polly.Joanna"),
    ],
)
def test_the_recording_is_announced_in_a_voice_that_speaks_the_words(
    language: str, voice: str | None, announced_in: str, announced_by: str
) -> None:
    r = route(when_unanswered="voicemail", language=language, voice=voice, message="Sorry.")
    announced = plan_after_leg(CALL, r, Defaults(), 1, "no-answer").verbs[1]
    assert isinstance(announced, Say)
    assert (announced.language, announced.voice) == (announced_in, announced_by)


def test_the_voicemail_renders_with_an_action_an_end_key_and_its_callbacks() -> None:
    r = route(when_unanswered="voicemail", transcribe=True)
    root = ElementTree.fromstring(render(last_leg(r), LINKS))  # type: ignore[arg-type]
    assert [c.tag for c in root] == ["Say", "Say", "Record", "Hangup"]
    record = root[2].attrib
    assert record["action"] == LINKS.voicemail_done()  # never the document itself: no loop
    assert record["maxLength"] == "120" and record["finishOnKey"] == "#"
    assert record["recordingStatusCallback"] == LINKS.recording_status(TWILIO, CALLER)
    assert record["recordingStatusCallbackEvent"] == "completed absent"
    assert record["transcribe"] == "true"
    assert record["transcribeCallback"] == LINKS.transcription(TWILIO, CALLER)
    plain = ElementTree.fromstring(render(last_leg(route(when_unanswered="voicemail")), LINKS))  # type: ignore[arg-type]
    assert "transcribe" not in plain[2].attrib


# -- 2. screening ---------------------------------------------------------------------------------
def test_a_screened_number_plays_a_whisper_on_each_number_and_rings_on_bridge() -> None:
    r = Route(TWILIO, (*OFFICE, "sip:desk@pbx.example.com"), screen=True)
    plan = plan_first(CALL, r, Defaults(), now=OPEN)
    assert plan.dial is not None
    assert plan.dial.screen_for == TWILIO and plan.dial.answer_on_bridge
    root = ElementTree.fromstring(render(plan, LINKS))
    numbers = list(root[0])
    assert root[0].get("answerOnBridge") == "true"
    assert [n.get("url") for n in numbers] == [LINKS.whisper(TWILIO)] * 2
    # The SIP desk phone rings in a <Dial> of its own, unscreened.
    sip = plan_after_leg(CALL, r, Defaults(), 0, "no-answer")
    assert ElementTree.fromstring(render(sip, LINKS))[0][0].get("url") is None


def test_screening_and_bridging_follow_the_number_then_the_settings() -> None:
    assert plan_first(CALL, route(), Defaults(screen=True), now=OPEN).dial.screen_for == TWILIO  # type: ignore[union-attr]
    unscreened = plan_first(CALL, route(screen=False), Defaults(screen=True), now=OPEN)
    assert unscreened.dial is not None and unscreened.dial.screen_for is None
    unbridged = plan_first(CALL, route(screen=True, answer_on_bridge=False), Defaults(), now=OPEN)
    assert unbridged.dial is not None and not unbridged.dial.answer_on_bridge
    plain = plan_first(CALL, route(), Defaults(), now=OPEN).dial
    assert plain is not None and plain.screen_for is None and not plain.answer_on_bridge


def test_the_whisper_says_whose_call_it_is_and_takes_one_key() -> None:
    verbs = plan_whisper(route(), Defaults(), TWILIO)
    gather, end = verbs
    assert isinstance(gather, Gather) and isinstance(end, Hangup)
    assert gather.say.text == PHRASES["ja"].whisper.format(whom="Sakura Dental")
    assert gather.say.language == "ja-JP"
    root = ElementTree.fromstring(render_verbs(verbs, LINKS))
    assert [c.tag for c in root] == ["Gather", "Hangup"]
    assert root[0].attrib == {
        "action": LINKS.screen_answer(TWILIO),
        "method": "POST",
        "numDigits": "1",
        "timeout": "5",
    }
    assert [c.tag for c in root[0]] == ["Say"]


def test_a_whisper_for_a_number_without_a_client_reads_the_number_digit_by_digit() -> None:
    (gather, _end) = plan_whisper(None, Defaults(language="en-US", voice="Polly.Joanna"), TWILIO)
    assert isinstance(gather, Gather)
    assert gather.say.text == "A call for 8 1 5 0 3 1 2 3 4 5 6 7. Press 1 to take it."


@pytest.mark.parametrize(
    ("digits", "connects"),
    [("1", True), (" 1", True), ("2", False), ("", False), ("#", False), ("11", False)],
)
def test_only_the_accept_key_connects(digits: str, connects: bool) -> None:
    verbs = plan_screen_answer(digits)
    assert (verbs == ()) is connects
    assert ElementTree.fromstring(render_verbs(verbs, LINKS)).tag == "Response"


# -- 3. office hours and closed days --------------------------------------------------------------
@pytest.mark.parametrize(
    "moment",
    [
        at("2026-11-24T08:59:59"),
        at("2026-11-24T18:00:00"),
        at("2026-11-28T10:00:00"),
        at("2026-12-31T10:00:00"),
    ],
)
def test_outside_the_hours_nothing_is_dialled_and_the_call_is_closed(moment: float) -> None:
    r = route(schedule=HOURS, closed_message="We are closed.")
    plan = plan_first(CALL, r, Defaults(), now=moment)
    assert plan.dial is None and plan.outcome == "closed" and plan.route_kind == "closed"
    assert [type(v) for v in plan.verbs] == [Say, Hangup]
    assert isinstance(plan.verbs[0], Say) and plan.verbs[0].text == "We are closed."


@pytest.mark.parametrize("moment", [at("2026-11-24T09:00:00"), at("2026-11-24T17:59:59")])
def test_inside_the_hours_the_number_forwards(moment: float) -> None:
    plan = plan_first(CALL, route(schedule=HOURS), Defaults(), now=moment)
    assert plan.dial is not None and not plan.dial.closed and plan.route_kind == "route"


def test_closed_treatments() -> None:
    voicemail = plan_first(
        CALL, route(schedule=HOURS, when_closed="voicemail"), Defaults(), now=CLOSED
    )
    assert voicemail.outcome == "voicemail" and voicemail.route_kind == "closed"
    assert isinstance(voicemail.verbs[2], Record)
    # The closed message falls back to the number's message.
    assert isinstance(voicemail.verbs[0], Say) and voicemail.verbs[0].text == Defaults().message
    forward = plan_first(
        CALL, route(schedule=HOURS, when_closed="forward:+819055556666"), Defaults(), now=CLOSED
    )
    assert forward.dial == Dial(("+819055556666",), TWILIO, 30, 0, closed=True)
    assert forward.route_kind == "closed" and forward.outcome == "forwarding"
    # The global default applies to a number that names no treatment.
    assert (
        plan_first(
            CALL, route(schedule=HOURS), Defaults(when_closed="voicemail"), now=CLOSED
        ).outcome
        == "voicemail"
    )


def test_after_the_closed_forward_the_number_treats_the_call_as_unanswered() -> None:
    r = route(schedule=HOURS, when_closed="forward:+819055556666", closed_message="Closed.")
    root = ElementTree.fromstring(render(plan_first(CALL, r, Defaults(), now=CLOSED), LINKS))
    assert root[0].get("action") == LINKS.dial_action(0, True)
    assert resumed_step(root[0].get("action") or "", STATUS_URL).closed  # type: ignore[union-attr]
    plan = plan_after_leg(CALL, r, Defaults(), 0, "no-answer", closed=True)
    assert plan.route_kind == "closed" and plan.outcome == "no-answer"
    assert isinstance(plan.verbs[0], Say) and plan.verbs[0].text == "Closed."
    with_voicemail = route(
        schedule=HOURS, when_closed="forward:+819055556666", when_unanswered="voicemail"
    )
    assert (
        plan_after_leg(CALL, with_voicemail, Defaults(), 0, "busy", closed=True).outcome
        == "voicemail"
    )


def test_a_call_that_began_open_goes_on_as_it_began_after_closing_time() -> None:
    """The dial-outcome request carries what the first answer decided, not the clock."""
    r = route(schedule=HOURS)
    assert plan_first(CALL, r, Defaults(), now=at("2026-11-24T17:59:50")).dial is not None
    # The first leg ends at 18:00:20: the second still rings.
    plan = plan_after_leg(CALL, r, Defaults(), 0, "no-answer", closed=False)
    assert plan.dial is not None and plan.dial.destinations == (OFFICE[1],)


def test_hours_do_not_apply_to_numbers_that_would_not_forward() -> None:
    assert not closed_now(route(schedule=HOURS, enabled=False), CLOSED)
    assert not closed_now(None, CLOSED)
    assert closed_now(route(schedule=HOURS), CLOSED)


@given(moment=st.floats(min_value=1.7e9, max_value=1.9e9))
def test_closed_exactly_when_the_hours_say_so(moment: float) -> None:
    plan = plan_first(CALL, route(schedule=HOURS), Defaults(), now=moment)
    assert (plan.route_kind == "closed") is (not is_open(HOURS, moment))


def test_may_record_names_the_numbers_whose_answers_carry_the_caller() -> None:
    assert may_record(route(when_unanswered="voicemail"), Defaults())
    assert may_record(route(), Defaults(when_unanswered="voicemail"))
    assert may_record(route(schedule=HOURS, when_closed="voicemail"), Defaults())
    assert not may_record(route(when_closed="voicemail"), Defaults())  # never closed
    assert not may_record(route(), Defaults())
    assert not may_record(None, Defaults(when_unanswered="voicemail"))


# -- 4. better ringing ----------------------------------------------------------------------------
def test_ring_tone_and_answer_on_bridge_reach_the_dial() -> None:
    r = route(ring_tone="jp", answer_on_bridge=True)
    root = ElementTree.fromstring(render(plan_first(CALL, r, Defaults(), now=OPEN), LINKS))
    assert root[0].get("ringTone") == "jp" and root[0].get("answerOnBridge") == "true"
    everywhere = Defaults(ring_tone="uk", answer_on_bridge=True)
    root = ElementTree.fromstring(render(plan_first(CALL, route(), everywhere, now=OPEN), LINKS))
    assert root[0].get("ringTone") == "uk" and root[0].get("answerOnBridge") == "true"
    root = ElementTree.fromstring(render(plan_first(CALL, route(), Defaults(), now=OPEN), LINKS))
    assert root[0].get("ringTone") is None and root[0].get("answerOnBridge") is None
