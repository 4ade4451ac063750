"""The planner decides every answer; these tests walk every path a call can take."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.models import Call, Defaults, Dial, Hangup, Plan, Route, Say
from backline.core.planner import (
    caller_gone,
    dial_groups,
    leg_status,
    normalise_dial_status,
    plan_after_leg,
    plan_first,
    resumed_step,
)
from backline.core.twiml import LAST_RESORT_TWIML, render, xml_safe
from backline.core.validation import is_sip

TWILIO = "+815031234567"
DESTS = ("+81312345678", "+819011112222", "sip:desk@pbx.example.com", "+81662345678")
STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled", "", "weird")
DEFAULTS = Defaults()
CALL = Call(call_sid="CA1", to=TWILIO, from_="+819099998888", call_status="in-progress")
STATUS_URL = "https://backline.example.com/twilio/voice/dial-status"


# 2026-11-24 10:00 JST, a Tuesday: the hours of the routes below that have any are open then.
NOW = 1795482000.0


def action(step: int) -> str:
    return f"https://backline.example.com/twilio/voice/dial-status?step={step}"


class Links:
    """backline's URLs as the planner's tests expect to find them in the TwiML."""

    base = "https://backline.example.com/twilio/voice"

    def dial_action(self, step: int, closed: bool) -> str:
        return action(step) + ("&closed=1" if closed else "")

    def whisper(self, number: str) -> str:
        return f"{self.base}/screen?number={number}"

    def screen_answer(self, number: str) -> str:
        return f"{self.base}/screen-answer?number={number}"

    def voicemail_done(self) -> str:
        return f"{self.base}/voicemail"

    def recording_status(self, number: str, caller: str) -> str:
        return f"{self.base}/recording-status?number={number}&caller={caller}"

    def transcription(self, number: str, caller: str) -> str:
        return f"{self.base}/transcription?number={number}&caller={caller}"


LINKS = Links()


def walk(
    route: Route | None, statuses: tuple[str, ...], defaults: Defaults = DEFAULTS, call: Call = CALL
) -> list[Plan]:
    """Play a call through: the fallback answer, then one dial outcome per <Dial>."""
    plans = [plan_first(call, route, defaults, now=NOW)]
    for status in statuses:
        dial = plans[-1].dial
        if dial is None:
            break
        plans.append(plan_after_leg(call, route, defaults, dial.step, status))
    return plans


def route(n: int, mode: str = "simultaneous", **kw: object) -> Route:
    return Route(TWILIO, DESTS[:n], mode=mode, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["simultaneous", "sequential"])
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_sequence_of_leg_outcomes(mode: str, count: int) -> None:
    """All status sequences up to the number of legs: invariants hold at every step."""
    r = route(count, mode)
    for statuses in itertools.product(STATUSES, repeat=count):
        plans = walk(r, statuses)
        dialled = [p.dial.destinations for p in plans if p.dial]
        # Sequential rings each destination once, in order; simultaneous rings the numbers at
        # once, and a SIP destination alone (Twilio refuses <Sip> beside any other noun).
        flat = [target for group in dialled for target in group]
        assert flat == list(DESTS[: len(flat)]) if mode == "sequential" else True
        for group in dialled:
            assert len(group) == 1 or not any(is_sip(t) for t in group)
        if mode == "sequential":
            assert all(len(d) == 1 for d in dialled)
        else:
            numbers = tuple(d for d in DESTS[:count] if not is_sip(d))
            assert dialled[0] == numbers
        last = plans[-1]
        assert last.dial is None, "a call must always end"
        outcome = normalise_dial_status(statuses[len(plans) - 2])
        assert last.outcome == outcome
        if outcome not in ("answered", "canceled"):
            # Every group was dialled before the apology.
            assert len(dialled) == len(dial_groups(DESTS[:count], mode == "sequential"))
        says = [v for v in last.verbs if isinstance(v, Say)]
        if outcome in ("answered", "canceled"):
            # Nobody should hear an apology after a good call, nor when the caller has gone.
            assert last.verbs == (Hangup(),)
        else:
            assert says == [Say(DEFAULTS.message, "ja-JP", "Polly.Mizuki")]
            assert isinstance(last.verbs[-1], Hangup)
        for plan in plans[:-1]:
            assert plan.outcome == "forwarding"
            assert plan.dial is not None and plan.dial.caller_id == TWILIO


def test_sequential_stops_at_first_answer() -> None:
    plans = walk(route(3, "sequential"), ("busy", "completed", "busy"))
    assert [p.outcome for p in plans] == ["forwarding", "forwarding", "answered"]
    assert plans[-1].verbs == (Hangup(),)


def test_route_apology_language_and_voice() -> None:
    r = route(1, message="Sorry, try later.", language="en-US", voice="Polly.Joanna")
    last = walk(r, ("no-answer",))[-1]
    assert last.verbs[0] == Say("Sorry, try later.", "en-US", "Polly.Joanna")


def test_route_message_without_language_keeps_default_language() -> None:
    last = walk(route(1, message="申し訳ございません"), ("busy",))[-1]
    assert last.verbs[0] == Say("申し訳ございません", "ja-JP", "Polly.Mizuki")


def test_unknown_number_without_catch_all_apologises() -> None:
    plan = plan_first(CALL, None, DEFAULTS, now=NOW)
    assert plan.outcome == "unrouted" and plan.route_kind == "unknown"
    assert plan.verbs == (Say(DEFAULTS.message, "ja-JP", "Polly.Mizuki"), Hangup())


def test_unknown_number_uses_catch_all_then_apologises() -> None:
    defaults = Defaults(catch_all="+81300000000")
    plans = walk(None, ("busy",), defaults)
    assert plans[0].route_kind == "catch-all"
    assert plans[0].dial == Dial(("+81300000000",), TWILIO, 30, 0)
    assert plans[1].outcome == "busy" and isinstance(plans[1].verbs[0], Say)


def test_disabled_number_apologises_in_its_own_language_without_catch_all() -> None:
    r = route(2, enabled=False, message="Closed today.", language="en-US", voice="Polly.Salli")
    plan = plan_first(CALL, r, Defaults(catch_all="+81300000000"), now=NOW)
    assert plan.route_kind == "disabled" and plan.outcome == "unrouted"
    assert plan.verbs == (Say("Closed today.", "en-US", "Polly.Salli"), Hangup())


@pytest.mark.parametrize(
    ("policy", "caller", "expected"),
    [
        ("twilio-number", "+819099998888", TWILIO),
        ("caller", "+819099998888", "+819099998888"),
        ("caller", "anonymous", TWILIO),
        ("+81312340000", "+819099998888", "+81312340000"),
    ],
)
def test_caller_id_policies(policy: str, caller: str, expected: str) -> None:
    call = Call(call_sid="CA1", to=TWILIO, from_=caller)
    dial = plan_first(call, route(1, caller_id=policy), DEFAULTS, now=NOW).dial
    assert dial is not None and dial.caller_id == expected


def test_a_to_that_is_not_a_number_never_becomes_caller_id() -> None:
    call = Call(call_sid="CA1", to='+81"><Hangup/>')
    plan = plan_first(call, None, Defaults(catch_all="+81300000000"), now=NOW)
    assert plan.dial is not None and plan.dial.caller_id is None


def test_a_stale_step_beyond_the_list_apologises() -> None:
    plan = plan_after_leg(CALL, route(2, "sequential"), DEFAULTS, 7, "busy")
    assert plan.outcome == "busy" and plan.dial is None


@given(
    to=st.text(max_size=30),
    from_=st.text(max_size=30),
    message=st.text(min_size=1, max_size=200),
    statuses=st.lists(st.sampled_from(STATUSES) | st.text(max_size=10), max_size=5),
    mode=st.sampled_from(["simultaneous", "sequential"]),
    count=st.integers(min_value=1, max_value=4),
    known=st.booleans(),
)
def test_any_input_renders_one_well_formed_response(
    to: str, from_: str, message: str, statuses: list[str], mode: str, count: int, known: bool
) -> None:
    """Whatever the caller or the table holds, the answer is valid TwiML of the planned shape."""
    call = Call(call_sid="CA1", to=to, from_=from_)
    r = Route(to, DESTS[:count], mode=mode, message=message) if known else None  # type: ignore[arg-type]
    for plan in walk(r, tuple(statuses), call=call):
        root = ElementTree.fromstring(render(plan, LINKS).encode())
        assert root.tag == "Response"
        assert [child.tag for child in root] == [type(v).__name__ for v in plan.verbs]
        for child, verb in zip(root, plan.verbs, strict=True):
            if isinstance(verb, Say):
                # Text survives escaping unchanged, less what XML cannot carry at all.
                assert (child.text or "") == xml_safe(verb.text).replace("\r\n", "\n").replace(
                    "\r", "\n"
                )
            if isinstance(verb, Dial):
                assert [n.text for n in child] == list(verb.destinations)
                assert child.get("action") == action(verb.step)


def test_markup_in_a_message_stays_text() -> None:
    evil = "</Say><Dial>+19005550000</Dial><Say>"
    plan = plan_first(CALL, route(1, enabled=False, message=evil), DEFAULTS, now=NOW)
    root = ElementTree.fromstring(render(plan, LINKS).encode())
    assert [c.tag for c in root] == ["Say", "Hangup"] and root[0].text == evil


def test_render_uses_sip_for_sip_destinations_each_in_a_dial_of_its_own() -> None:
    plans = walk(route(4), ("busy", "no-answer", "busy"))
    roots = [ElementTree.fromstring(render(plan, LINKS).encode()) for plan in plans]
    assert [[c.tag for c in root[0]] for root in roots[:2]] == [
        ["Number", "Number", "Number"],
        ["Sip"],
    ]
    assert [n.text for n in roots[0][0]] == [DESTS[0], DESTS[1], DESTS[3]]
    assert roots[1][0].get("action") == action(1)
    for root in roots[:2]:
        assert root[0].get("callerId") == TWILIO and root[0].get("timeout") == "30"
        assert root[0].get("method") == "POST"
    assert [c.tag for c in roots[2]] == ["Say", "Hangup"]


def test_dial_groups_keep_the_order_of_the_list() -> None:
    sip_a, sip_b = "sip:a@pbx.example.com", "sips:b@pbx.example.com"
    assert dial_groups((sip_a, "+81300000001", sip_b, "+81300000002"), False) == (
        (sip_a,),
        ("+81300000001", "+81300000002"),
        (sip_b,),
    )
    assert dial_groups((sip_a, sip_b), False) == ((sip_a,), (sip_b,))
    assert dial_groups(("+81300000001", sip_a), True) == (("+81300000001",), (sip_a,))


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "", "weird"])
@pytest.mark.parametrize("call_status", ["completed", "canceled", "no-answer", "COMPLETED"])
def test_a_caller_who_hung_up_gets_no_further_leg(status: str, call_status: str) -> None:
    call = Call(call_sid="CA1", to=TWILIO, call_status=call_status)
    plan = plan_after_leg(call, route(3, "sequential"), DEFAULTS, 0, status)
    assert plan.verbs == (Hangup(),) and plan.outcome == "caller-hung-up"


def test_an_answered_leg_stays_answered_when_the_caller_hangs_up_afterwards() -> None:
    call = Call(call_sid="CA1", to=TWILIO, call_status="completed")
    plan = plan_after_leg(call, route(3, "sequential"), DEFAULTS, 0, "completed")
    assert plan.outcome == "answered"


@pytest.mark.parametrize("call_status", ["in-progress", "", "ringing"])
def test_a_caller_still_there_gets_the_next_leg(call_status: str) -> None:
    assert not caller_gone(call_status)
    call = Call(call_sid="CA1", to=TWILIO, call_status=call_status)
    plan = plan_after_leg(call, route(3, "sequential"), DEFAULTS, 0, "busy")
    assert plan.dial is not None and plan.dial.destinations == (DESTS[1],)


@pytest.mark.parametrize(
    ("error_url", "step"),
    [
        (STATUS_URL + "?step=1", 1),
        (STATUS_URL + "?step=0", 0),
        (STATUS_URL.replace("backline.example", "BACKLINE.example") + "/?step=2", 2),
        (STATUS_URL, -1),
        (STATUS_URL + "?step=x", -1),
        (STATUS_URL + "?step=99999999999", -1),
        ("https://ivr.example.com/twilio/incoming", None),
        ("https://ivr.example.com/twilio/voice/dial-status?step=1", None),
        ("https://backline.example.com/twilio/voice/fallback", None),
        ("", None),
        ("http://[::1", None),
    ],
)
def test_resumed_step_reads_our_own_dial_outcome_url(error_url: str, step: int | None) -> None:
    resume = resumed_step(error_url, STATUS_URL)
    assert (None if resume is None else resume.step) == step
    assert resume is None or not resume.closed


def test_a_resumed_unknown_step_apologises_instead_of_starting_again() -> None:
    plan = plan_after_leg(CALL, route(3, "sequential"), DEFAULTS, -1, "")
    assert plan.dial is None and isinstance(plan.verbs[0], Say)


@pytest.mark.parametrize(
    ("route_language", "route_voice", "defaults", "expected"),
    [
        # A language and no voice: that language's default, not the defaults' Japanese voice.
        ("en-US", None, Defaults(), ("en-US", "Polly.Joanna")),
        ("ja-JP", None, Defaults(), ("ja-JP", "Polly.Mizuki")),
        ("ja-JP", None, Defaults(voice="Polly.Takumi"), ("ja-JP", "Polly.Takumi")),
        # A voice and no language: the voice's own language.
        (None, "Polly.Joanna", Defaults(), ("en-US", "Polly.Joanna")),
        (None, "Google.ja-JP-Neural2-B", Defaults(), ("ja-JP", "Google.ja-JP-Neural2-B")),
        # A stored pair that cannot work (from before the check): the language's default.
        ("en-US", "Polly.Mizuki", Defaults(), ("en-US", "Polly.Joanna")),
        # Defaults set to English with the built-in Japanese voice left in place.
        (None, None, Defaults(language="en-US"), ("en-US", "Polly.Joanna")),
        # A language the table does not know keeps a voice nobody can judge.
        ("fr-FR", "Polly.Lea", Defaults(), ("fr-FR", "Polly.Lea")),
        ("fr-FR", None, Defaults(), ("fr-FR", None)),
    ],
)
def test_the_apology_is_spoken_by_a_voice_that_speaks_its_language(
    route_language: str | None,
    route_voice: str | None,
    defaults: Defaults,
    expected: tuple[str, str | None],
) -> None:
    r = route(1, message="x", language=route_language, voice=route_voice)
    say = walk(r, ("busy",), defaults)[-1].verbs[0]
    assert isinstance(say, Say) and (say.language, say.voice) == expected


def test_last_resort_is_a_japanese_apology() -> None:
    root = ElementTree.fromstring(LAST_RESORT_TWIML.encode())
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root[0].get("language") == "ja-JP" and root[0].get("voice")


@pytest.mark.parametrize("status", ["completed", "answered", "busy", "no-answer", "failed", ""])
@pytest.mark.parametrize("bridged", ["true", "false", "False", ""])
def test_a_leg_never_connected_to_the_caller_is_not_an_answer(status: str, bridged: str) -> None:
    planned = normalise_dial_status(leg_status(status, bridged))
    if bridged.lower() == "false":
        assert planned != "answered"  # a voicemail that heard the whisper and hung up
    else:
        assert planned == normalise_dial_status(status)  # Twilio's status stands
