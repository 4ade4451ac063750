"""Outage grouping: what one channel is told next, given what it was told and what waits. Pure.

The rules, per channel:

* A diverted call after a quiet period is told at once, on its own (with its outcome when that
  is already known), and so is that call's outcome when it comes later.
* A second call within ``quiet`` seconds of the previous one turns the run into an *outage*:
  from then on calls and outcomes are folded into a summary, at most one per ``summary``
  seconds, counting the whole outage so far.
* An outage with no new call for ``quiet`` seconds is over: a closing summary is sent.
* Alerts (another channel failing) are sent on their own, before anything else.
* An outage that spans the database's return is one outage: the part told from the local
  journal while the database was down is merged into the database's own state when it comes
  back (:func:`merge_part`), the next message says the database is back and the outage goes on,
  and from then on the counts include both parts, up to one closing.
* A voicemail (and its transcription) is a message someone has to act on: it is sent on its
  own, in time order with the call's other messages, and never folded into a summary (an
  outage's summary counts the calls that went to voicemail).

Nothing here is persisted until the message is delivered: :func:`decide` derives the next message
from the stored :class:`ChannelState` and the pending items each time, so a crash or a failed
send simply plans again from the same inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any, Literal

from backline.core import times
from backline.core.messages import (
    CallEvent,
    Language,
    Message,
    OutageStats,
    call_message,
    outcome_message,
    summary_message,
    transcription_message,
    voicemail_message,
)
from backline.core.times import iso

__all__ = [
    "ChannelState",
    "Decision",
    "Item",
    "Outage",
    "Thresholds",
    "backoff",
    "decide",
    "epoch",
    "merge_part",
    "wake_time",
]

ItemKind = Literal["diverted", "outcome", "voicemail", "transcription", "alert"]
# Told on their own, whatever the outage (see the module's rules).
_NOTES: tuple[ItemKind, ...] = ("voicemail", "transcription")


def epoch(at: str) -> float:
    """Seconds since the epoch for an ISO-8601 time (0 for an unreadable one)."""
    return times.epoch(at) or 0.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    quiet: float
    summary: float
    min_interval: float
    zone: tzinfo
    language: Language
    # Messages from the journal say so: the database was unreachable when they were written.
    local: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    """A pending delivery: a call event, or an alert already rendered."""

    id: str
    kind: ItemKind
    created_at: str
    event: CallEvent | None = None
    alert: Message | None = None

    @property
    def at(self) -> str:
        return self.event.at if self.event is not None else self.created_at


@dataclass(slots=True)
class Outage:
    started_at: str
    last_call_at: str
    last_message_at: str
    calls: int = 0
    told: int = 0
    summarising: bool = False
    sids: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    counted: list[str] = field(default_factory=list)
    # The parts told from a local journal that were merged in (each once), and whether the
    # next message is to say that the database is back and the outage goes on.
    parts: list[str] = field(default_factory=list)
    database_back: bool = False

    def copy(self) -> Outage:
        return replace(
            self,
            sids=list(self.sids),
            lines=dict(self.lines),
            outcomes=dict(self.outcomes),
            counted=list(self.counted),
            parts=list(self.parts),
        )

    def join(self, event: CallEvent) -> None:
        self.calls += 1
        if event.call_sid not in self.sids:
            self.sids.append(event.call_sid)
        if epoch(event.at) > epoch(self.last_call_at):
            self.last_call_at = event.at
        key = f"{event.client or ''}\t{event.to}"
        self.lines[key] = self.lines.get(key, 0) + 1

    def count_outcome(self, event: CallEvent) -> bool:
        """Count an outcome of one of this outage's calls, once; False for another call."""
        if event.call_sid not in self.sids or event.call_sid in self.counted:
            return False
        self.counted.append(event.call_sid)
        self.outcomes[event.outcome] = self.outcomes.get(event.outcome, 0) + 1
        return True

    def stats(self, local: bool) -> OutageStats:
        lines = []
        for key, count in self.lines.items():
            client, _, number = key.partition("\t")
            lines.append((client or None, number, count))
        lines.sort(key=lambda line: (-line[2], line[0] or "", line[1]))
        return OutageStats(
            started_at=self.started_at,
            last_call_at=self.last_call_at,
            calls=self.calls,
            new_calls=self.calls - self.told,
            lines=tuple(lines),
            outcomes=dict(self.outcomes),
            local=local,
            database_back=self.database_back,
        )


@dataclass(slots=True)
class ChannelState:
    outage: Outage | None = None
    # Consecutive failed deliveries; sets the backoff and resets on success.
    failures: int = 0

    def to_json(self) -> str:
        value: dict[str, Any] = {"failures": self.failures}
        if self.outage is not None:
            outage = self.outage
            # Stored under its first name, which rows already written carry.
            value["storm"] = {
                "started_at": outage.started_at,
                "last_call_at": outage.last_call_at,
                "last_message_at": outage.last_message_at,
                "calls": outage.calls,
                "told": outage.told,
                "summarising": outage.summarising,
                "sids": outage.sids,
                "lines": outage.lines,
                "outcomes": outage.outcomes,
                "counted": outage.counted,
                "parts": outage.parts,
                "database_back": outage.database_back,
            }
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ChannelState:
        try:
            value = json.loads(text or "{}")
        except ValueError:
            return cls()
        outage_value = value.get("storm")
        outage = None
        if isinstance(outage_value, dict):
            outage = Outage(
                started_at=str(outage_value["started_at"]),
                last_call_at=str(outage_value["last_call_at"]),
                last_message_at=str(outage_value["last_message_at"]),
                calls=int(outage_value.get("calls", 0)),
                told=int(outage_value.get("told", 0)),
                summarising=bool(outage_value.get("summarising", False)),
                sids=list(outage_value.get("sids", [])),
                lines={str(k): int(v) for k, v in outage_value.get("lines", {}).items()},
                outcomes={str(k): int(v) for k, v in outage_value.get("outcomes", {}).items()},
                counted=list(outage_value.get("counted", [])),
                parts=list(outage_value.get("parts", [])),
                database_back=bool(outage_value.get("database_back", False)),
            )
        return cls(outage=outage, failures=int(value.get("failures", 0)))


@dataclass(frozen=True, slots=True)
class Decision:
    """What to send now (if anything) and what to store once it has been delivered."""

    message: Message | None
    consumed: tuple[str, ...]
    state: ChannelState
    # When the channel should be looked at again: after a delivery, the earliest the next
    # message may go (pacing); with nothing to send, when something falls due.
    next_at: float
    # When the channel needs a look even if nothing new arrives (an outage's closing); None
    # when it does not. Computed for ``state``, i.e. as it will be after the delivery.
    wake_at: float | None


def wake_time(state: ChannelState, quiet: float) -> float | None:
    """When a channel in ``state`` needs a look although nothing new arrives: its outage's
    closing (or, right after the database's return, the news that it goes on)."""
    outage = state.outage
    if outage is None:
        return None
    if outage.database_back:
        return epoch(outage.last_message_at)
    if not outage.summarising:
        return None
    return epoch(outage.last_call_at) + quiet


_wake = wake_time


def merge_part(outage: Outage | None, part: Outage, part_id: str, quiet: float) -> Outage | None:
    """The database's outage with ``part`` (told from a local journal) folded in, once.

    Returns None when the two are different outages (the database's ended a quiet period
    before ``part`` began): its closing must go out first, and the merge waits for it.
    """
    if outage is None:
        merged = part.copy()
        merged.parts.append(part_id)
        # An outage (two calls or more) goes on: say that the database is back.
        merged.database_back = merged.summarising
        return merged
    if part_id in outage.parts:
        return outage
    if epoch(part.started_at) >= epoch(outage.last_call_at) + quiet:
        return None
    merged = outage.copy()
    if epoch(part.started_at) < epoch(merged.started_at):
        merged.started_at = part.started_at
    if epoch(part.last_call_at) > epoch(merged.last_call_at):
        merged.last_call_at = part.last_call_at
    if epoch(part.last_message_at) > epoch(merged.last_message_at):
        merged.last_message_at = part.last_message_at
    merged.calls += part.calls
    merged.told += part.told
    merged.sids += [sid for sid in part.sids if sid not in merged.sids]
    for key, count in part.lines.items():
        merged.lines[key] = merged.lines.get(key, 0) + count
    for sid in part.counted:
        if sid not in merged.counted:
            merged.counted.append(sid)
    for outcome, count in part.outcomes.items():
        merged.outcomes[outcome] = merged.outcomes.get(outcome, 0) + count
    merged.summarising = True
    merged.parts.append(part_id)
    merged.database_back = True
    return merged


def decide(state: ChannelState, items: Sequence[Item], now: float, limits: Thresholds) -> Decision:
    """The next message for one channel. ``items`` are its pending deliveries."""
    ordered = sorted(items, key=lambda item: (epoch(item.at), item.id))
    after_send = now + limits.min_interval

    # Alerts first: a channel that stopped working matters more than one more call counted.
    for item in ordered:
        if item.kind == "alert" and item.alert is not None:
            return Decision(item.alert, (item.id,), state, after_send, _wake(state, limits.quiet))

    notes = [item for item in ordered if item.kind in _NOTES and item.event is not None]
    calls = [item for item in ordered if item.event is not None and item.kind not in _NOTES]
    if notes:
        first_note = notes[0]
        summarising = state.outage is not None and state.outage.summarising
        # Never before its own call is told (outside an outage), else in time order.
        own_call_waits = any(
            item.event is not None
            and first_note.event is not None
            and item.event.call_sid == first_note.event.call_sid
            for item in calls
        )
        if summarising or (
            not own_call_waits and (not calls or epoch(first_note.at) <= epoch(calls[0].at))
        ):
            return Decision(
                _note_message(first_note, limits),
                (first_note.id,),
                state,
                after_send,
                _wake(state, limits.quiet),
            )

    outage = state.outage.copy() if state.outage is not None else None
    diverted = [item for item in calls if item.kind == "diverted"]

    if outage is not None:
        joined: list[Item] = []
        for item in diverted:
            assert item.event is not None
            if epoch(item.event.at) < epoch(outage.last_call_at) + limits.quiet:
                outage.join(item.event)
                joined.append(item)
            else:
                break
        if joined:
            outage.summarising = True
        end = epoch(outage.last_call_at) + limits.quiet
        if outage.summarising:
            return _plan_outage(state, outage, calls, joined, now, end, limits)
        if now >= end and not joined:
            outage = None  # one call, told on its own, and quiet since: nothing to close

    if not calls:
        return Decision(None, (), state, float("inf"), _wake(state, limits.quiet))
    first = calls[0]
    assert first.event is not None
    if first.kind == "diverted":
        fresh = Outage(
            started_at=first.event.at, last_call_at=first.event.at, last_message_at=iso(now)
        )
        fresh.join(first.event)
        fresh.told = 1
        consumed = [first.id]
        outcome = next(
            (
                item
                for item in calls
                if item.kind == "outcome"
                and item.event is not None
                and item.event.call_sid == first.event.call_sid
            ),
            None,
        )
        if outcome is not None and outcome.event is not None:
            fresh.count_outcome(outcome.event)
            consumed.append(outcome.id)
        message = call_message(
            first.event,
            limits.zone,
            limits.language,
            outcome.event if outcome is not None else None,
        )
        new_state = ChannelState(fresh, 0)
        return Decision(
            message, tuple(consumed), new_state, after_send, _wake(new_state, limits.quiet)
        )
    if outage is not None:
        outage.count_outcome(first.event)
    new_state = ChannelState(outage, 0)
    message = outcome_message(first.event, limits.zone, limits.language)
    return Decision(message, (first.id,), new_state, after_send, _wake(new_state, limits.quiet))


def _note_message(item: Item, limits: Thresholds) -> Message:
    assert item.event is not None
    if item.kind == "transcription":
        return transcription_message(item.event, limits.zone, limits.language)
    return voicemail_message(item.event, limits.zone, limits.language)


def _plan_outage(
    state: ChannelState,
    outage: Outage,
    calls: Sequence[Item],
    joined: Sequence[Item],
    now: float,
    end: float,
    limits: Thresholds,
) -> Decision:
    """A run of calls being summarised: fold, then send a summary or the closing one."""
    folded = [item.id for item in joined]
    for item in calls:
        # Outcomes of this outage's calls are counted; outcomes of calls told before it began
        # go out with the summary too (consumed), since telling them alone now would break the
        # one-summary rule.
        if (
            item.kind == "outcome"
            and item.event is not None
            and (outage.count_outcome(item.event) or epoch(item.event.at) < end)
        ):
            folded.append(item.id)
    now_iso = iso(now)
    if now >= end:
        outage.database_back = False  # the closing says it all
        message = summary_message(
            outage.stats(limits.local), limits.zone, limits.language, now=now_iso, closing=True
        )
        closed = ChannelState(None, 0)
        return Decision(message, tuple(folded), closed, now + limits.min_interval, None)
    due = epoch(outage.last_message_at) + limits.summary
    if outage.database_back:
        # The database is back mid-outage: say so now, with the counts of both parts.
        message = summary_message(
            outage.stats(limits.local), limits.zone, limits.language, now=now_iso
        )
        outage.told = outage.calls
        outage.last_message_at = now_iso
        outage.database_back = False
        after = ChannelState(outage, 0)
        return Decision(message, tuple(folded), after, now + limits.min_interval, end)
    if folded and now >= due:
        message = summary_message(
            outage.stats(limits.local), limits.zone, limits.language, now=now_iso
        )
        outage.told = outage.calls
        outage.last_message_at = now_iso
        after = ChannelState(outage, 0)
        return Decision(message, tuple(folded), after, now + limits.min_interval, end)
    next_at = min(end, due) if folded else end
    return Decision(None, (), state, next_at, end)


def backoff(failures: int, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: doubling, capped, jittered.

    ``jitter`` is a number in [0, 1) from the caller (the dispatcher's random source), so that
    dispatchers that failed together do not all come back at the same moment.
    """
    exponent = min(max(failures - 1, 0), 30)
    delay = min(cap, base * float(2**exponent))
    return float(delay * (0.5 + jitter / 2))
