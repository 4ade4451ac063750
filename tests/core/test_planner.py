"""The planner decides every answer; these tests walk every path a call can take."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.models import Call, Defaults, Dial, Hangup, Plan, Route, Say
from backline.core.planner import normalise_dial_status, plan_after_leg, plan_first
from backline.core.twiml import LAST_RESORT_TWIML, render, xml_safe

TWILIO = "+815031234567"
DESTS = ("+81312345678", "+819011112222", "sip:desk@pbx.example.com", "+81662345678")
STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled", "", "weird")
DEFAULTS = Defaults()
CALL = Call(call_sid="CA1", to=TWILIO, from_="+819099998888")


def action(step: int) -> str:
    return f"https://backline.example.com/twilio/voice/dial-status?step={step}"


def walk(
    route: Route | None, statuses: tuple[str, ...], defaults: Defaults = DEFAULTS, call: Call = CALL
) -> list[Plan]:
    """Play a call through: the fallback answer, then one dial outcome per <Dial>."""
    plans = [plan_first(call, route, defaults)]
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
        # Sequential rings each destination once, in order; simultaneous rings all at once.
        if mode == "sequential":
            assert all(len(d) == 1 for d in dialled)
            assert [d[0] for d in dialled] == list(DESTS[: len(dialled)])
        else:
            assert dialled[0] == DESTS[:count] and len(dialled) == 1
        last = plans[-1]
        assert last.dial is None, "a call must always end"
        outcome = normalise_dial_status(statuses[len(plans) - 2])
        assert last.outcome == outcome
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
    plan = plan_first(CALL, None, DEFAULTS)
    assert plan.outcome == "unrouted" and plan.route_kind == "unknown"
    assert plan.verbs == (Say(DEFAULTS.message, "ja-JP", "Polly.Mizuki"), Hangup())


def test_unknown_number_uses_catch_all_then_apologises() -> None:
    defaults = Defaults(catch_all="+81300000000")
    plans = walk(None, ("busy",), defaults)
    assert plans[0].route_kind == "catch-all"
    assert plans[0].dial == Dial(("+81300000000",), TWILIO, 30, 0)
    assert plans[1].outcome == "busy" and isinstance(plans[1].verbs[0], Say)


def test_disabled_number_apologises_in_its_own_language_without_catch_all() -> None:
    r = route(2, enabled=False, message="Closed today.", language="en-US", voice="alice")
    plan = plan_first(CALL, r, Defaults(catch_all="+81300000000"))
    assert plan.route_kind == "disabled" and plan.outcome == "unrouted"
    assert plan.verbs == (Say("Closed today.", "en-US", "alice"), Hangup())


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
    dial = plan_first(call, route(1, caller_id=policy), DEFAULTS).dial
    assert dial is not None and dial.caller_id == expected


def test_a_to_that_is_not_a_number_never_becomes_caller_id() -> None:
    call = Call(call_sid="CA1", to='+81"><Hangup/>')
    plan = plan_first(call, None, Defaults(catch_all="+81300000000"))
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
        root = ElementTree.fromstring(render(plan, action).encode())
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
    plan = plan_first(CALL, route(1, enabled=False, message=evil), DEFAULTS)
    root = ElementTree.fromstring(render(plan, action).encode())
    assert [c.tag for c in root] == ["Say", "Hangup"] and root[0].text == evil


def test_render_uses_sip_for_sip_destinations() -> None:
    plan = plan_first(CALL, route(3), DEFAULTS)
    root = ElementTree.fromstring(render(plan, action).encode())
    assert [c.tag for c in root[0]] == ["Number", "Number", "Sip"]
    assert root[0].get("callerId") == TWILIO and root[0].get("timeout") == "30"
    assert root[0].get("method") == "POST"


def test_last_resort_is_a_japanese_apology() -> None:
    root = ElementTree.fromstring(LAST_RESORT_TWIML.encode())
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root[0].get("language") == "ja-JP" and root[0].get("voice")
