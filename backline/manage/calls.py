"""The call log: what happened to each call the fallback answered, for people to read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from backline.core import validation
from backline.manage.engine import reading
from backline.manage.errors import InvalidValue, checked
from backline.manage.numbers import _json_list
from backline.store.schema import calls, legs, screenings, voicemails

__all__ = ["CallEntry", "LegEntry", "VoicemailEntry", "dashboard", "list_calls", "search_calls"]


@dataclass(frozen=True, slots=True)
class LegEntry:
    step: int
    destinations: tuple[str, ...]
    status: str
    duration: int | None
    dial_call_sid: str
    time: str
    # A screened leg that was picked up: where, and whether the key to take the call was pressed.
    picked_up_at: str | None = None
    accepted: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "destinations": list(self.destinations),
            "status": self.status,
            "duration": self.duration,
            "dial_call_sid": self.dial_call_sid,
            "time": self.time,
            "picked_up_at": self.picked_up_at,
            "accepted": self.accepted,
        }


@dataclass(frozen=True, slots=True)
class VoicemailEntry:
    """The message a caller left (status "completed"), or that they left none ("absent")."""

    recording_sid: str
    status: str
    recording_url: str
    duration: int | None
    transcription: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "recording_sid": self.recording_sid,
            "status": self.status,
            "recording_url": self.recording_url,
            "duration": self.duration,
            "transcription": self.transcription,
        }


@dataclass(frozen=True, slots=True)
class CallEntry:
    call_sid: str
    to: str
    from_: str
    error_code: str
    error_url: str
    time: str
    client: str | None
    route_kind: str
    outcome: str
    duration: int | None
    destinations: tuple[str, ...]
    legs: tuple[LegEntry, ...]
    voicemail: VoicemailEntry | None = None
    # Destinations that picked up a screened leg and declined it with another key (a leg
    # that no dial outcome names, as the hunt went on past it).
    declined: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "to": self.to,
            "from": self.from_,
            "error_code": self.error_code,
            "error_url": self.error_url,
            "time": self.time,
            "client": self.client,
            "route_kind": self.route_kind,
            "outcome": self.outcome,
            "duration": self.duration,
            "destinations": list(self.destinations),
            "legs": [leg.to_json() for leg in self.legs],
            "voicemail": None if self.voicemail is None else self.voicemail.to_json(),
            "declined": list(self.declined),
        }


def list_calls(engine: Engine, limit: int = 50) -> list[CallEntry]:
    """The ``limit`` newest calls, newest first, each with its dial legs in step order."""
    return search_calls(engine, limit=limit)


def search_calls(
    engine: Engine,
    *,
    limit: int = 50,
    number: str | None = None,
    client: str | None = None,
    since: str | None = None,
    until: str | None = None,
    outcome: str | None = None,
    after: tuple[str, str] | None = None,
) -> list[CallEntry]:
    """:func:`list_calls`, only the calls to ``number``, of ``client`` (any case), from
    ``since`` and before ``until`` (ISO-8601 times), with ``outcome``, and older than the call
    ``after`` names (its time and CallSid: the last of the previous page)."""
    if limit < 1:
        raise InvalidValue("limit", f"limit {limit} must be at least 1")
    conditions: list[Any] = []
    if number:
        conditions.append(calls.c.to_number == checked("number", validation.e164, number))
    if client:
        name = checked("client", validation.client_name, client)
        conditions.append(func.lower(calls.c.client) == name.lower())
    if since:
        conditions.append(calls.c.created_at >= checked("since", _time("since"), since))
    if until:
        conditions.append(calls.c.created_at < checked("until", _time("until"), until))
    if outcome:
        conditions.append(calls.c.outcome == outcome.strip().lower())
    if after is not None:
        at, sid = after
        conditions.append(
            (calls.c.created_at < at) | ((calls.c.created_at == at) & (calls.c.call_sid < sid))
        )
    query = (
        select(
            calls.c.call_sid,
            calls.c.to_number,
            calls.c.from_number,
            calls.c.error_code,
            calls.c.error_url,
            calls.c.created_at,
            calls.c.client,
            calls.c.route_kind,
            calls.c.outcome,
            calls.c.duration,
            calls.c.destinations,
        )
        .where(*conditions)
        .order_by(calls.c.created_at.desc(), calls.c.call_sid.desc())
        .limit(limit)
    )
    with reading(engine) as connection:
        rows = connection.execute(query).all()
        sids = [row[0] for row in rows]
        by_call: dict[str, list[LegEntry]] = {sid: [] for sid in sids}
        messages: dict[str, VoicemailEntry] = {}
        declined: dict[str, list[str]] = {}
        if sids:
            leg_rows = connection.execute(
                select(
                    legs.c.call_sid,
                    legs.c.step,
                    legs.c.destinations,
                    legs.c.status,
                    legs.c.duration,
                    legs.c.dial_call_sid,
                    legs.c.created_at,
                )
                .where(legs.c.call_sid.in_(sids))
                .order_by(legs.c.call_sid, legs.c.step)
            )
            picked = _screenings(connection, sids)
            for sid, step, dests, status, duration, dial_sid, at in leg_rows:
                pick = picked.get(dial_sid) if dial_sid else None
                by_call[sid].append(
                    LegEntry(
                        int(step),
                        _json_list(dests),
                        status,
                        duration,
                        dial_sid,
                        at,
                        picked_up_at=pick[1] if pick else None,
                        accepted=pick[2] if pick else None,
                    )
                )
            told = {leg.dial_call_sid for found in by_call.values() for leg in found}
            for child, (parent, destination, accepted) in picked.items():
                if parent and not accepted and child not in told:
                    declined.setdefault(parent, []).append(destination)
            messages = _voicemails(connection, sids)
    return [
        CallEntry(
            call_sid=row[0],
            to=row[1],
            from_=row[2],
            error_code=row[3],
            error_url=row[4],
            time=row[5],
            client=row[6],
            route_kind=row[7],
            outcome=row[8],
            duration=None if row[9] is None else int(row[9]),
            destinations=_json_list(row[10]),
            legs=tuple(by_call[row[0]]),
            voicemail=messages.get(row[0]),
            declined=tuple(declined.get(row[0], ())),
        )
        for row in rows
    ]


def _time(what: str) -> Callable[[str], str]:
    return lambda value: validation.utc_time(value, what=what)


def _screenings(connection: Connection, sids: list[str]) -> dict[str, tuple[str, str, bool]]:
    """Screened legs picked up during these calls: leg call SID -> (parent call SID,
    destination, accepted). A leg is found by its parent (when Twilio named it) or by the
    DialCallSid of one of the calls' legs."""
    dial_sids = select(legs.c.dial_call_sid).where(legs.c.call_sid.in_(sids))
    rows = connection.execute(
        select(
            screenings.c.call_sid,
            screenings.c.parent_call_sid,
            screenings.c.destination,
            screenings.c.accepted,
        ).where(screenings.c.parent_call_sid.in_(sids) | screenings.c.call_sid.in_(dial_sids))
    )
    return {
        str(child): (str(parent), str(destination), bool(accepted))
        for child, parent, destination, accepted in rows
    }


def _voicemails(connection: Connection, sids: list[str]) -> dict[str, VoicemailEntry]:
    rows = connection.execute(
        select(
            voicemails.c.call_sid,
            voicemails.c.recording_sid,
            voicemails.c.status,
            voicemails.c.recording_url,
            voicemails.c.duration,
            voicemails.c.transcription,
        )
        .where(voicemails.c.call_sid.in_(sids))
        .order_by(voicemails.c.created_at)
    )
    return {
        str(sid): VoicemailEntry(
            str(recording), str(status), str(url), None if length is None else int(length), text
        )
        for sid, recording, status, url, length, text in rows
    }


def dashboard(engine: Engine, now: float | None = None) -> dict[str, Any]:
    """What the admin's dashboard shows: calls diverted in the last 10 minutes and 24 hours,
    and the last hour's diverted calls per minute and outcome."""
    import time

    from backline.store.database import utc_now

    moment = time.time() if now is None else now
    recent, day, hour = (utc_now(moment - seconds) for seconds in (600, 86400, 3600))
    minute = func.substr(calls.c.created_at, 1, 16)
    with engine.connect() as connection:
        count_recent = connection.execute(
            select(func.count()).select_from(calls).where(calls.c.created_at >= recent)
        ).scalar_one()
        count_day = connection.execute(
            select(func.count()).select_from(calls).where(calls.c.created_at >= day)
        ).scalar_one()
        rows = connection.execute(
            select(minute, calls.c.outcome, func.count())
            .where(calls.c.created_at >= hour)
            .group_by(minute, calls.c.outcome)
        ).all()
    per_minute: dict[str, dict[str, int]] = {}
    for at, outcome, count in rows:
        per_minute.setdefault(str(at), {})[str(outcome)] = int(count)
    minutes = [utc_now(moment - 60 * back)[:16] for back in range(59, -1, -1)]
    return {
        "recent": int(count_recent),
        "day": int(count_day),
        "minutes": minutes,
        "per_minute": per_minute,
        "outcomes": sorted({outcome for counts in per_minute.values() for outcome in counts}),
    }
