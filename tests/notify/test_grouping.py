"""The grouping rules, as pure functions of state, pending items and time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from backline.core.messages import CallEvent, Message
from backline.notify.grouping import ChannelState, Item, Thresholds, backoff, iso, plan

LIMITS = Thresholds(quiet=600, summary=300, min_interval=1, zone=ZoneInfo("UTC"), language="en")
T0 = 1_800_000_000.0


def call(sid: str, at: float, kind: str = "diverted", outcome: str = "") -> Item:
    event = CallEvent(
        kind,
        sid,
        "+81312345678",
        "+8190",
        "Acme",
        (),
        iso(at),  # type: ignore[arg-type]
        outcome=outcome,
        duration=30 if outcome == "answered" else None,
    )
    return Item(f"{sid}:{kind}@1", kind, iso(at), event=event)  # type: ignore[arg-type]


def test_the_first_call_is_told_at_once() -> None:
    decided = plan(ChannelState(), [call("CA1", T0)], T0, LIMITS)
    assert decided.message is not None
    assert decided.message.kind == "call"
    assert decided.consumed == ("CA1:diverted@1",)
    assert decided.next_at == T0 + 1
    assert decided.wake_at is None  # a single call needs no closing


def test_a_call_and_its_known_outcome_are_one_message() -> None:
    items = [call("CA1", T0), call("CA1", T0, "outcome", "unrouted")]
    decided = plan(ChannelState(), items, T0, LIMITS)
    assert decided.message is not None
    assert len(decided.consumed) == 2
    assert "not forwarded" in decided.message.text


def test_a_second_call_waits_for_the_summary_then_it_comes() -> None:
    first = plan(ChannelState(), [call("CA1", T0)], T0, LIMITS)
    state = first.state
    waiting = plan(state, [call("CA2", T0 + 5)], T0 + 6, LIMITS)
    assert waiting.message is None
    assert waiting.next_at == T0 + 300  # the summary is due 300 s after the first message
    due = plan(state, [call("CA2", T0 + 5), call("CA3", T0 + 9)], T0 + 300, LIMITS)
    assert due.message is not None
    assert due.message.kind == "summary"
    assert "3 diverted call(s)" in due.message.title
    assert "+2 since the last message" in due.message.text
    assert due.wake_at == T0 + 9 + 600


def test_the_outage_closes_after_the_quiet_period() -> None:
    state = plan(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    state = plan(state, [call("CA2", T0 + 5)], T0 + 300, LIMITS).state
    assert plan(state, [], T0 + 500, LIMITS).message is None
    closing = plan(state, [call("CA2", T0 + 60, "outcome", "answered")], T0 + 605, LIMITS)
    assert closing.message is not None
    assert closing.message.kind == "closing"
    assert "Answered 1" in closing.message.text
    assert closing.state.storm is None


def test_a_single_call_then_quiet_starts_afresh() -> None:
    state = plan(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    later = plan(state, [call("CA2", T0 + 601)], T0 + 601, LIMITS)
    assert later.message is not None
    assert later.message.kind == "call"


def test_alerts_go_first() -> None:
    alert = Message("alert", "channel failing", ("x",))
    items = [call("CA1", T0), Item("alert@1", "alert", iso(T0 + 1), alert=alert)]
    decided = plan(ChannelState(), items, T0 + 2, LIMITS)
    assert decided.message == alert


def test_state_round_trips_through_json() -> None:
    state = plan(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    state.failures = 3
    assert ChannelState.from_json(state.to_json()) == state
    assert ChannelState.from_json("not json") == ChannelState()


@given(
    st.lists(st.floats(min_value=0, max_value=3000), min_size=1, max_size=60),
    st.floats(min_value=0, max_value=4000),
)
def test_every_call_is_counted_exactly_once(offsets: list[float], extra: float) -> None:
    """Feeding calls through plan() as a dispatcher would never loses or doubles one."""
    pending = [call(f"CA{i}", T0 + offset) for i, offset in enumerate(sorted(offsets))]
    # All have arrived by the time the dispatcher looks (it was down, say).
    state, told, sent = ChannelState(), 0, set()
    arrived = list(pending)
    now = T0 + max(offsets)
    horizon = T0 + max(offsets) + extra + 2000
    while now < horizon:
        decided = plan(state, [i for i in arrived if i.id not in sent], now, LIMITS)
        if decided.message is not None:
            assert not sent & set(decided.consumed)
            sent |= set(decided.consumed)
            if decided.message.kind == "call":
                told += 1
            state = decided.state
            now = decided.next_at
        else:
            nxt = min(decided.next_at, decided.wake_at or float("inf"))
            now = max(now + 1, nxt if nxt != float("inf") else horizon)
    assert sent == {item.id for item in pending}
    assert told >= 1


@given(st.integers(min_value=1, max_value=100), st.floats(min_value=0, max_value=0.999))
def test_backoff_grows_and_stays_under_the_cap(failures: int, jitter: float) -> None:
    wait = backoff(failures, 2.0, 600.0, jitter)
    assert 0 < wait <= 600.0
    assert backoff(failures + 1, 2.0, 600.0, 0.5) >= backoff(failures, 2.0, 600.0, 0.5)
