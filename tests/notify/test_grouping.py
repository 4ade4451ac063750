"""The grouping rules, as pure functions of state, pending items and time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from backline.core.events import CallEvent, EventKind
from backline.core.messages import Message
from backline.core.times import iso
from backline.notify.grouping import (
    ChannelState,
    Item,
    Thresholds,
    backoff,
    decide,
    epoch,
    merge_part,
)

LIMITS = Thresholds(quiet=600, summary=300, min_interval=1, zone=ZoneInfo("UTC"), language="en")
T0 = 1_800_000_000.0


def call(sid: str, at: float, kind: EventKind = "diverted", outcome: str = "") -> Item:
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
    decided = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS)
    assert decided.message is not None
    assert decided.message.kind == "call"
    assert decided.consumed == ("CA1:diverted@1",)
    assert decided.next_at == T0 + 1
    assert decided.wake_at is None  # a single call needs no closing


def test_a_call_and_its_known_outcome_are_one_message() -> None:
    items = [call("CA1", T0), call("CA1", T0, "outcome", "unrouted")]
    decided = decide(ChannelState(), items, T0, LIMITS)
    assert decided.message is not None
    assert len(decided.consumed) == 2
    assert "not forwarded" in decided.message.text


def test_a_second_call_waits_for_the_summary_then_it_comes() -> None:
    first = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS)
    state = first.state
    waiting = decide(state, [call("CA2", T0 + 5)], T0 + 6, LIMITS)
    assert waiting.message is None
    assert waiting.next_at == T0 + 300  # the summary is due 300 s after the first message
    due = decide(state, [call("CA2", T0 + 5), call("CA3", T0 + 9)], T0 + 300, LIMITS)
    assert due.message is not None
    assert due.message.kind == "summary"
    assert "3 diverted call(s)" in due.message.title
    assert "+2 since the last message" in due.message.text
    assert due.wake_at == T0 + 9 + 600


def test_the_outage_closes_after_the_quiet_period() -> None:
    state = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    state = decide(state, [call("CA2", T0 + 5)], T0 + 300, LIMITS).state
    assert decide(state, [], T0 + 500, LIMITS).message is None
    closing = decide(state, [call("CA2", T0 + 60, "outcome", "answered")], T0 + 605, LIMITS)
    assert closing.message is not None
    assert closing.message.kind == "closing"
    assert "Answered 1" in closing.message.text
    assert closing.state.outage is None


def test_a_single_call_then_quiet_starts_afresh() -> None:
    state = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    later = decide(state, [call("CA2", T0 + 601)], T0 + 601, LIMITS)
    assert later.message is not None
    assert later.message.kind == "call"


def test_alerts_go_first() -> None:
    alert = Message("alert", "channel failing", ("x",))
    items = [call("CA1", T0), Item("alert@1", "alert", iso(T0 + 1), alert=alert)]
    decided = decide(ChannelState(), items, T0 + 2, LIMITS)
    assert decided.message == alert


def test_state_round_trips_through_json() -> None:
    state = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    state.failures = 3
    assert ChannelState.from_json(state.to_json()) == state
    assert ChannelState.from_json("not json") == ChannelState()


@given(
    st.lists(st.floats(min_value=0, max_value=3000), min_size=1, max_size=60),
    st.floats(min_value=0, max_value=4000),
)
def test_every_call_is_counted_exactly_once(offsets: list[float], extra: float) -> None:
    """Feeding calls through decide() as a dispatcher would never loses or doubles one."""
    pending = [call(f"CA{i}", T0 + offset) for i, offset in enumerate(sorted(offsets))]
    # All have arrived by the time the dispatcher looks (it was down, say).
    state, told, sent = ChannelState(), 0, set[str]()
    arrived = list(pending)
    now = T0 + max(offsets)
    horizon = T0 + max(offsets) + extra + 2000
    while now < horizon:
        decided = decide(state, [i for i in arrived if i.id not in sent], now, LIMITS)
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


# --- the database's return: the local part and the database's part are one outage -----------

LOCAL = Thresholds(
    quiet=600, summary=300, min_interval=1, zone=ZoneInfo("UTC"), language="en", local=True
)


def _outage(*offsets: float) -> ChannelState:
    """A channel's state after its first call was told and the others were summarised."""
    state = decide(ChannelState(), [call("CA0", T0 + offsets[0])], T0 + offsets[0], LOCAL).state
    rest = [call(f"CA{i}", T0 + offset) for i, offset in enumerate(offsets[1:], 1)]
    return decide(state, rest, T0 + offsets[0] + 300, LOCAL).state


def test_a_local_outage_merged_into_an_empty_channel_goes_on_with_its_counts() -> None:
    part = _outage(0, 10, 20).outage
    assert part is not None
    merged = merge_part(None, part, "p1", 600)
    assert merged is not None
    assert (merged.calls, merged.started_at, merged.database_back) == (3, iso(T0), True)
    # Once only: the same part again changes nothing.
    assert merge_part(merged, part, "p1", 600) is merged


def test_a_single_call_told_locally_is_no_outage_to_announce() -> None:
    single = decide(ChannelState(), [call("CA1", T0)], T0, LOCAL).state.outage
    assert single is not None
    merged = merge_part(None, single, "p1", 600)
    assert merged is not None and not merged.database_back


def test_both_parts_count_together() -> None:
    database = _outage(0, 5).outage  # the database's own, before it went away
    part = _outage(100, 110, 120).outage
    assert database is not None and part is not None
    merged = merge_part(database, part, "p1", 600)
    assert merged is not None
    assert merged.calls == 5
    assert merged.started_at == iso(T0)
    assert merged.last_call_at == iso(T0 + 120)
    assert merged.lines == {"Acme\t+81312345678": 5}
    assert merged.database_back and merged.summarising


def test_a_part_after_the_databases_own_outage_ended_waits_for_its_closing() -> None:
    database = _outage(0, 5).outage
    part = _outage(5 + 600, 700).outage
    assert database is not None and part is not None
    assert merge_part(database, part, "p1", 600) is None


def test_after_the_merge_the_news_goes_out_at_once_then_summaries_then_one_closing() -> None:
    part = _outage(0, 10, 20).outage
    assert part is not None
    merged = merge_part(None, part, "p1", 600)
    assert merged is not None
    state = ChannelState(merged, 0)
    now = T0 + 30  # the summary interval has not passed: the news does not wait for it
    back = decide(state, [call("CA9", T0 + 25)], now, LIMITS)
    assert back.message is not None
    assert back.message.title.startswith("Database back, outage goes on: 4 diverted call(s)")
    assert "recorded locally" not in back.message.text
    assert back.wake_at == T0 + 25 + 600
    later = decide(back.state, [call("CA10", T0 + 40)], T0 + 400, LIMITS)
    assert later.message is not None and later.message.title.startswith("Outage ongoing: 5")
    closing = decide(later.state, [], T0 + 40 + 600, LIMITS)
    assert closing.message is not None and closing.message.title.startswith("Outage over: 5")
    assert closing.state.outage is None


def test_the_news_state_round_trips_through_json() -> None:
    part = _outage(0, 10).outage
    assert part is not None
    merged = merge_part(None, part, "p1", 600)
    assert merged is not None
    state = ChannelState(merged, 2)
    assert ChannelState.from_json(state.to_json()) == state


@given(
    st.lists(st.floats(min_value=0, max_value=3000), min_size=1, max_size=40),
    st.floats(min_value=0, max_value=3000),
)
def test_a_story_across_the_return_never_loses_a_call_and_its_counts_only_grow(
    offsets: list[float], back: float
) -> None:
    """Calls arrive over time; the database comes back at ``back``: until then the local outbox
    tells them, from then on the database's dispatcher, with the local part merged in and its
    unsent calls handed over. Every call is told once; within one story (from a call told on
    its own to its closing) the counts only grow, and a story closes once."""
    arrivals = [call(f"CA{i}", T0 + offset) for i, offset in enumerate(offsets)]
    arrivals.sort(key=lambda item: (epoch(item.at), item.id))
    handover = T0 + back
    sent: set[str] = set()
    messages: list[Message] = []

    def run(state: ChannelState, now: float, until: float, limits: Thresholds) -> ChannelState:
        while now < until:
            pending = [i for i in arrivals if epoch(i.at) <= now and i.id not in sent]
            decided = decide(state, pending, now, limits)
            if decided.message is not None:
                assert not sent & set(decided.consumed)
                sent.update(decided.consumed)
                messages.append(decided.message)
                state = decided.state
                now = decided.next_at
                continue
            upcoming = [epoch(i.at) for i in arrivals if epoch(i.at) > now]
            candidates = [decided.next_at, decided.wake_at or float("inf"), *upcoming[:1]]
            now = max(now + 1, min(candidates))
        return state

    local = run(ChannelState(), T0, handover, LOCAL)
    outage = None
    if local.outage is not None:
        outage = merge_part(None, local.outage, "part", LIMITS.quiet)
    run(ChannelState(outage, 0), handover, T0 + 3000 + 2000, LIMITS)

    assert sent == {item.id for item in arrivals}
    counts: list[int] = []
    closed = False
    titles = [m.title for m in messages]
    for message in messages:
        if message.kind == "call":
            # A story that was summarised ends with its closing before another begins.
            assert closed or not counts, titles
            counts, closed = [], False
        elif message.kind in ("summary", "closing"):
            assert not closed, titles
            counts.append(int(message.data["calls"]))
            assert counts == sorted(counts), titles
            closed = message.kind == "closing"
    assert closed or not counts, titles


def voicemail(sid: str, at: float, kind: str = "voicemail") -> Item:
    event = CallEvent(
        kind,  # type: ignore[arg-type]
        sid,
        "+81312345678",
        "+8190",
        "Acme",
        (),
        iso(at),
        recording_url="https://api.twilio.com/rec/RE1",
        recording_duration=42,
        recording_status="completed",
        transcription="call me back" if kind == "transcription" else "",
    )
    return Item(f"{sid}:{kind}@1", kind, iso(at), event=event)  # type: ignore[arg-type]


def test_a_voicemail_is_told_on_its_own_after_its_call() -> None:
    items = [voicemail("CA1", T0 + 40), call("CA1", T0), call("CA1", T0, "outcome", "voicemail")]
    first = decide(ChannelState(), items, T0 + 41, LIMITS)
    assert first.message is not None and first.message.kind == "call"
    assert "voicemail offered" in first.message.text
    second = decide(first.state, [items[0]], T0 + 42, LIMITS)
    assert second.message is not None and second.message.kind == "voicemail"
    assert second.consumed == ("CA1:voicemail@1",)
    assert "Length: 42s" in second.message.text
    assert "https://api.twilio.com/rec/RE1" in second.message.text


def test_during_an_outage_voicemails_still_go_out_one_by_one() -> None:
    state = decide(ChannelState(), [call("CA1", T0)], T0, LIMITS).state
    state = decide(state, [call("CA2", T0 + 5)], T0 + 300, LIMITS).state
    assert state.outage is not None and state.outage.summarising
    # A summary is not due, new calls wait for it; the voicemail does not.
    items = [
        call("CA3", T0 + 301),
        voicemail("CA2", T0 + 320),
        voicemail("CA2", T0 + 330, "transcription"),
    ]
    told = decide(state, items, T0 + 331, LIMITS)
    assert told.message is not None and told.message.kind == "voicemail"
    assert told.state.outage is not None and told.state.outage.calls == state.outage.calls
    after = decide(told.state, [items[0], items[2]], T0 + 332, LIMITS)
    assert after.message is not None and after.message.kind == "transcription"
    assert "call me back" in after.message.text
    assert decide(after.state, [items[0]], T0 + 333, LIMITS).message is None  # summary not due


def test_a_voicemail_never_goes_before_its_own_call_even_at_the_same_second() -> None:
    items = [voicemail("CA1", T0), call("CA1", T0)]
    first = decide(ChannelState(), items, T0, LIMITS)
    assert first.message is not None and first.message.kind == "call"
    second = decide(first.state, [items[0]], T0 + 1, LIMITS)
    assert second.message is not None and second.message.kind == "voicemail"
