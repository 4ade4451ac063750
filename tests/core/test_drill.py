"""The drill's judgement: what the table asks of a number, and what counts as a wrong answer."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.drill import (
    DRILL_CALLER,
    ChannelResult,
    DrillReport,
    ExpectedDial,
    ExpectedSay,
    NumberResult,
    Observed,
    check,
    drill_call_sid,
    expect,
    read_answer,
)
from backline.core.hours import Schedule, windows_of
from backline.core.messages import drill_message
from backline.core.models import Call, Defaults, Route, is_drill
from backline.core.planner import plan_after_leg, plan_first
from backline.core.twiml import render
from tests.core.test_planner import LINKS

TWILIO = "+815031234567"
DESTS = ("+81312345678", "+819011112222", "sip:desk@pbx.example.com", "+81662345678")
TWILIO_CALL_SID = re.compile(r"CA[0-9a-f]{32}")


# 2026-11-24 10:00 JST, a Tuesday: open for the office hours below; moments drawn in the
# property test fall on both sides of them.
NOW = 1795482000.0
HOURS = Schedule("Asia/Tokyo", windows_of(["mon-fri 09:00-18:00"]), ("2026-12-31",))


def action(step: int) -> str:
    return f"https://backline.example.com/twilio/voice/dial-status?step={step}"


# -- the mark -----------------------------------------------------------------------------------


@given(stamp=st.text(max_size=20), nonce=st.text(max_size=20))
def test_a_drill_call_sid_is_never_a_twilio_one_and_always_a_drill(stamp: str, nonce: str) -> None:
    sid = drill_call_sid(stamp, nonce)
    assert is_drill(sid)
    assert not TWILIO_CALL_SID.fullmatch(sid)
    assert len(sid) <= 64


@given(digits=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_no_twilio_call_sid_is_a_drill(digits: str) -> None:
    assert not is_drill("CA" + digits)


# -- a right answer passes --------------------------------------------------------------------

routes = st.builds(
    Route,
    number=st.just(TWILIO),
    destinations=st.lists(st.sampled_from(DESTS), min_size=0, max_size=4, unique=True).map(tuple),
    mode=st.sampled_from(["simultaneous", "sequential"]),
    ring_timeout=st.integers(5, 600),
    caller_id=st.sampled_from(["twilio-number", "caller", "+81399999999"]),
    message=st.none() | st.sampled_from(["Sorry.", "ただいま込み合っております。", "a\x01b"]),
    language=st.none() | st.sampled_from(["en-US", "ja-JP"]),
    voice=st.none() | st.sampled_from(["Polly.Joanna", "Polly.Mizuki", "Google.ja-JP-Standard-A"]),
    client=st.none() | st.just("Acme"),
    enabled=st.booleans(),
    when_unanswered=st.none() | st.sampled_from(["apology", "voicemail"]),
    screen=st.none() | st.booleans(),
    schedule=st.none() | st.just(HOURS),
    when_closed=st.none() | st.sampled_from(["apology", "voicemail", "forward:+81355556666"]),
)
defaults = st.builds(
    Defaults,
    catch_all=st.none() | st.just("+81300000000"),
    ring_timeout=st.integers(5, 600),
)


@given(
    route=st.none() | routes,
    defaults=defaults,
    now=st.sampled_from([NOW, NOW + 9 * 3600, 1798678800.0]),  # open, closed, a closed day
)
def test_a_correct_service_passes_the_drill(
    route: Route | None, defaults: Defaults, now: float
) -> None:
    """A service answering from the same table passes: the rendered answers, read back as the
    drill reads TwiML and walked as it walks them, meet every step of the expectation."""
    call = Call(call_sid=drill_call_sid("s", "n"), to=TWILIO, from_=DRILL_CALLER)
    expectation = expect(TWILIO, route, defaults, now=now)
    plan = plan_first(call, route, defaults, now=now)
    for index, step in enumerate(expectation.steps):
        observed = read_answer(200, render(plan, LINKS))
        assert not isinstance(observed, str)
        assert check(step, observed) == [], (index, step, render(plan, LINKS))
        if plan.dial is not None:
            plan = plan_after_leg(
                call, route, defaults, plan.dial.step, "no-answer", closed=plan.dial.closed
            )
    assert plan.dial is None  # nothing left to dial after the apology


def test_what_the_table_asks_of_each_kind_of_number() -> None:
    sequential = Route(
        TWILIO,
        DESTS[:2],
        mode="sequential",
        ring_timeout=20,
        caller_id="caller",
        message="Sorry",
        language="en-US",
        client="Acme",
    )
    expectation = expect(TWILIO, sequential, Defaults(), now=NOW)
    assert expectation.steps == (
        ExpectedDial((DESTS[0],), DRILL_CALLER, 20),
        ExpectedDial((DESTS[1],), DRILL_CALLER, 20),
        # The route's language, in that language's default voice (the planner's rule).
        ExpectedSay("Sorry", "en-US", "Polly.Joanna"),
    )
    assert expectation.describe() == (
        f"dials {DESTS[0]}, then {DESTS[1]}; apology en-US Polly.Joanna"
    )
    disabled = Route(TWILIO, DESTS[:1], enabled=False)
    assert expect(TWILIO, disabled, Defaults(), now=NOW).kind == "disabled"
    assert expect(TWILIO, disabled, Defaults(), now=NOW).dials == ()
    catch_all = expect(TWILIO, None, Defaults(catch_all="+81300000000", ring_timeout=25), now=NOW)
    assert catch_all.kind == "catch-all"
    assert catch_all.dials == (ExpectedDial(("+81300000000",), TWILIO, 25),)
    assert expect(TWILIO, None, Defaults(), now=NOW).describe() == (
        "not in the table; apology ja-JP Polly.Mizuki"
    )


# -- wrong answers, each named ------------------------------------------------------------------

DIAL = ExpectedDial((DESTS[0], DESTS[1]), TWILIO, 20)
SAY = ExpectedSay("Sorry", "en-US", "Polly.Joanna")


def answer(xml: str) -> Observed:
    observed = read_answer(200, f'<?xml version="1.0" encoding="UTF-8"?><Response>{xml}</Response>')
    assert not isinstance(observed, str)
    return observed


def dial(numbers: str, caller_id: str = TWILIO, timeout: int = 20, act: str = "x") -> str:
    return (
        f'<Dial action="{act}" callerId="{caller_id}" method="POST" timeout="{timeout}">'
        f"{numbers}</Dial>"
    )


GOOD = f"<Number>{DESTS[0]}</Number><Number>{DESTS[1]}</Number>"


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (
            dial(f"<Number>{DESTS[0]}</Number>"),
            f"dials {DESTS[0]} instead of {DESTS[0]}, {DESTS[1]}",
        ),
        (dial(GOOD, caller_id="+819000000000"), f"caller ID +819000000000 instead of {TWILIO}"),
        (dial(GOOD, timeout=30), "rings 30 s instead of 20 s"),
        (dial(GOOD, act=""), "no dial-outcome URL: Twilio could not go on after the dial"),
        (
            '<Say language="ja-JP" voice="Polly.Mizuki">x</Say><Hangup />',
            f"plays the apology instead of dialling {DESTS[0]}, {DESTS[1]}",
        ),
        ("<Hangup />", f"does not dial {DESTS[0]}, {DESTS[1]} (answers <Hangup>)"),
        (dial(GOOD) + "<Hangup />", "answers <Dial><Hangup> instead of a single <Dial>"),
    ],
)
def test_a_wrong_dial_is_named(xml: str, problem: str) -> None:
    assert check(DIAL, answer(xml)) == [problem]


def test_a_right_dial_passes() -> None:
    assert check(DIAL, answer(dial(GOOD))) == []


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (
            '<Say language="ja-JP" voice="Polly.Joanna">Sorry</Say><Hangup />',
            "apology in ja-JP instead of en-US",
        ),
        (
            '<Say language="en-US" voice="Polly.Mizuki">Sorry</Say><Hangup />',
            "apology voice Polly.Mizuki instead of Polly.Joanna",
        ),
        (
            '<Say language="en-US" voice="Polly.Joanna">Hello</Say><Hangup />',
            "apology text 'Hello' instead of 'Sorry'",
        ),
        (
            '<Say language="en-US" voice="Polly.Joanna">Sorry</Say>',
            "answers <Say> instead of <Say><Hangup>",
        ),
        (dial(GOOD), f"dials {DESTS[0]}, {DESTS[1]} where the table says to apologise"),
        ("", "does not play the apology (answers an empty <Response>)"),
    ],
)
def test_a_wrong_apology_is_named(xml: str, problem: str) -> None:
    assert check(SAY, answer(xml)) == [problem]


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (403, "invalid Twilio signature", "refused with 403"),
        (500, "Internal Server Error", "answered HTTP 500"),
        (502, "", "answered HTTP 502"),
        (200, "<html>oops", "not XML"),
        (200, "<html/>", "not TwiML (<html>)"),
    ],
)
def test_an_answer_twilio_cannot_use_is_named(status: int, body: str, says: str) -> None:
    problem = read_answer(status, body)
    assert isinstance(problem, str)
    assert says in problem


# -- the report and the message -----------------------------------------------------------------


def test_the_report_names_each_failure_and_hides_channel_addresses() -> None:
    report = DrillReport(
        started_at="2026-11-24T00:00:00.000000Z",
        finished_at="2026-11-24T00:00:01.000000Z",
        url="https://backline.example.com",
        numbers=(
            NumberResult(TWILIO, None, "route", "dials x", (), 2, 3.0),
            NumberResult("+815031234568", "Acme", "route", "dials y", ("dials z",), 1, 2.0),
        ),
        channels=(
            ChannelResult(1, "#1 sms +819012345678", None, False, "temporary: no answer"),
            ChannelResult(2, '#2 slack "ops"', None, True, "200 ok"),
        ),
        notified=True,
    )
    assert not report.ok
    assert report.failures() == ["+815031234568", "channel #1"]
    assert "+819012345678" not in str(report.failures())
    assert report.to_json()["failures"] == report.failures()


def test_the_drill_message_is_clearly_a_drill_in_either_language() -> None:
    zone = ZoneInfo("Asia/Tokyo")
    at = "2026-11-24T00:00:00.000000Z"
    passed = drill_message(12, [], zone, "en", at=at)
    assert passed.kind == "drill"
    assert passed.title == "[DRILL] backline drill: all 12 number(s) answer as configured"
    assert passed.data["type"] == "drill" and passed.data["ok"] is True
    assert "No call was diverted" in passed.text
    failing = [(f"+8150000000{i:02d}", "dials x instead of y") for i in range(12)]
    failed = drill_message(20, failing, zone, "ja", at=at)
    assert failed.title == "【訓練】backline 定期確認：20番号中12番号で異常"
    assert "+815000000000: dials x instead of y" in failed.lines
    assert "ほか2番号" in failed.lines
    assert failed.data["failing"] == [number for number, _ in failing]
    assert "2026-11-24 09:00:00 JST" in failed.text
