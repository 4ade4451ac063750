"""The answer path's SQL. Every write is idempotent, so Twilio's retries and journal replays
can repeat it safely: the same CallSid (or CallSid + step) is written once and its first answer
is returned again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backline.core.events import CallEvent
from backline.core.models import (
    WHEN_UNANSWERED,
    Defaults,
    Route,
    WhenUnanswered,
)
from backline.core.settings import defaults_from_settings
from backline.store.database import Connection, Database
from backline.store.records import CallRecord, LegRecord, Record

if TYPE_CHECKING:
    from backline.core.hours import Schedule

__all__ = [
    "PREPARED_CALLS",
    "apply",
    "defaults_from_settings",
    "events_for",
    "load_table",
    "prepare_calls",
    "prepared_statement_lost",
]

_CALL_COLUMNS = (
    "call_sid",
    "account_sid",
    "to_number",
    "from_number",
    "direction",
    "error_code",
    "error_url",
    "client",
    "route_kind",
    "destinations",
    "outcome",
    "duration",
    "answer",
    "created_at",
    "updated_at",
)
_INSERT_LEG = """
INSERT INTO legs (call_sid, step, destinations, dial_call_sid, status, duration, answer,
                  created_at)
VALUES (:call_sid, :step, :destinations, :dial_call_sid, :status, :duration, :answer, :at)
ON CONFLICT (call_sid, step) DO NOTHING
RETURNING step
"""
# A leg only ever moves a call forward: an outcome is never overwritten by a later, stale leg
# (a replayed journal entry for step 0 after step 1 was recorded, say).
_UPDATE_OUTCOME = """
UPDATE calls SET outcome = :outcome, duration = :duration, updated_at = :at
WHERE call_sid = :call_sid AND (outcome = 'forwarding' OR updated_at < :at)
"""
_EVENT_COLUMNS = ("id", "call_sid", "kind", "payload", "created_at", "fanned_out")


def events_for(record: Record) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The events a new record adds, as (id, kind, at, payload).

    Used here, and by the notification side to tell the same calls from the local journal
    while the database is down (the ids match, so the replay can mark them as told).
    """
    return [(event.id, event.kind, event.at, event.payload()) for event in call_events(record)]


def call_events(record: Record) -> list[CallEvent]:
    """The events a new record adds (see :class:`backline.core.events.CallEvent`)."""
    match record:
        case CallRecord():
            diverted = CallEvent.of(
                "diverted",
                record,
                record.destinations,
                route_kind=record.route_kind,
                error_code=record.error_code,
                error_url=record.error_url,
            )
            if not record.final:
                return [diverted]
            return [diverted, replace(diverted, kind="outcome", outcome=record.outcome)]
        case LegRecord():
            if not record.final:
                return []
            return [
                CallEvent.of(
                    "outcome",
                    record,
                    record.destinations,
                    outcome=record.outcome,
                    duration=record.duration,
                )
            ]
        case _:
            from backline.store.callback_records import callback_events

            return callback_events(record)


def _event_rows(record: Record) -> list[tuple[Any, ...]]:
    """The values of the events ``record`` adds, in the order of ``_EVENT_COLUMNS``."""
    return [
        (
            event_id,
            record.call_sid,
            kind,
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            at,
            False,
        )
        for event_id, kind, at, payload in events_for(record)
    ]


def _call_row(record: CallRecord) -> tuple[Any, ...]:
    """A new call's values, in the order of ``_CALL_COLUMNS`` (no duration until a leg ends)."""
    return (
        record.call_sid,
        record.account_sid,
        record.to_number,
        record.from_number,
        record.direction,
        record.error_code,
        record.error_url,
        record.client,
        record.route_kind,
        json.dumps(list(record.destinations)),
        record.outcome,
        None,
        record.answer,
        record.at,
        record.at,
    )


def _insert_events(db: Database, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    # Event ids are fixed per call and kind: a repeated request adds nothing new.
    db.insert_rows(cursor, "events", _EVENT_COLUMNS, rows, unless_exists="id")


def _apply_calls(
    db: Database, cursor: Any, records: list[CallRecord], *, prepared: bool = False
) -> list[str | None]:
    """Write a run of new calls with a fixed number of statements, whatever its length.

    During a burst of calls the group-commit batches are runs of new calls: one query finds Twilio's
    retries among them, then the rows and their events go in as two multi-row inserts.
    """
    if db.dialect == "postgresql":
        return _apply_calls_postgresql(cursor, records, prepared=prepared)
    sids = list(dict.fromkeys(record.call_sid for record in records))
    names = [f"s{i}" for i in range(len(sids))]
    cursor.execute(
        db.sql(
            "SELECT call_sid, answer FROM calls WHERE call_sid IN "
            f"({', '.join(':' + name for name in names)})"
        ),
        dict(zip(names, sids, strict=True)),
    )
    first_answer: dict[str, str] = {str(sid): str(answer) for sid, answer in cursor.fetchall()}
    results: list[str | None] = []
    calls: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for record in records:
        if record.call_sid in first_answer:  # a retry: the first answer again, no new row
            results.append(first_answer[record.call_sid])
            continue
        first_answer[record.call_sid] = record.answer
        calls.append(_call_row(record))
        events.extend(_event_rows(record))
        results.append(None)
    # ON CONFLICT still guards against another process writing the same call meanwhile.
    db.insert_rows(cursor, "calls", _CALL_COLUMNS, calls, unless_exists="call_sid")
    _insert_events(db, cursor, events)
    return results


# New calls carry no duration (a leg brings it) and were last updated when created: those two
# columns are not sent.
_SENT_CALL_COLUMNS = tuple(name for name in _CALL_COLUMNS if name not in ("duration", "updated_at"))
_SENT_CALL_INDEXES = tuple(_CALL_COLUMNS.index(name) for name in _SENT_CALL_COLUMNS)
_SENT_EVENT_COLUMNS = _EVENT_COLUMNS[:-1]  # every new event is not fanned out yet

# Each column goes as one text array: the statement's text is the same for every batch, and the
# driver quotes a few long strings instead of every value (a Python-level call per row).
_CALLS_AND_EVENTS_TEMPLATE = (
    "WITH new AS (INSERT INTO calls ({calls}) SELECT {call_values} FROM unnest({call_arrays}) "
    "AS c ({sent_calls}) ON CONFLICT (call_sid) DO NOTHING RETURNING call_sid), "
    "added AS (INSERT INTO events ({events}) SELECT {event_values}, false FROM "
    "unnest({event_arrays}) AS e ({sent_events}) WHERE e.call_sid IN (SELECT call_sid FROM new) "
    "ON CONFLICT (id) DO NOTHING) SELECT call_sid FROM new"
)
_ARRAYS = len(_SENT_CALL_COLUMNS) + len(_SENT_EVENT_COLUMNS)


def _calls_and_events(placeholders: list[str]) -> str:
    calls_sent = len(_SENT_CALL_COLUMNS)
    return _CALLS_AND_EVENTS_TEMPLATE.format(
        calls=", ".join(_CALL_COLUMNS),
        call_values=", ".join(
            "NULL"
            if name == "duration"
            else "c.created_at"
            if name == "updated_at"
            else f"c.{name}"
            for name in _CALL_COLUMNS
        ),
        call_arrays=", ".join(f"{p}::text[]" for p in placeholders[:calls_sent]),
        sent_calls=", ".join(_SENT_CALL_COLUMNS),
        events=", ".join(_EVENT_COLUMNS),
        event_values=", ".join(f"e.{name}" for name in _SENT_EVENT_COLUMNS),
        event_arrays=", ".join(f"{p}::text[]" for p in placeholders[calls_sent:]),
        sent_events=", ".join(_SENT_EVENT_COLUMNS),
    )


_CALLS_AND_EVENTS = _calls_and_events(["%s"] * _ARRAYS)
# The same statement prepared once per connection by the writer process (see prepare_calls):
# planning it took about a third of the server's time per batch. Named after its text, so that
# two versions of backline never run each other's statement on a shared server connection.
PREPARED_CALLS = "backline_calls_" + hashlib.sha256(_CALLS_AND_EVENTS.encode()).hexdigest()[:12]
_PREPARE_CALLS = f"PREPARE {PREPARED_CALLS} AS " + _calls_and_events(
    [f"${number}" for number in range(1, _ARRAYS + 1)]
)
_EXECUTE_CALLS = f"EXECUTE {PREPARED_CALLS} ({', '.join(['%s'] * _ARRAYS)})"


def prepare_calls(connection: Connection) -> None:
    """Prepare the statement that writes a batch of new calls on this PostgreSQL connection,
    for :func:`apply` with ``prepared=True``. The server keeps it for the connection's life."""
    connection.cursor().execute(_PREPARE_CALLS)


def prepared_statement_lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection does not know the prepared statement: the server
    session is not the one that prepared it (a pooler handing out server connections per
    transaction), or something discarded it. Writing on without it works."""
    return getattr(error, "pgcode", None) == "26000"  # invalid_sql_statement_name


def text_array(values: Iterable[str | None]) -> str:
    """``values`` as a PostgreSQL array literal of text: ``{"a","b\"c",NULL}``.

    Every element is double-quoted, with its backslashes and double quotes escaped, as the
    array input syntax asks; None is a bare NULL. The literal then goes to the driver as one
    string parameter, which it quotes. (Records are cleaned of NUL, which text cannot hold.)
    """
    quoted = (
        "NULL" if value is None else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in values
    )
    return "{" + ",".join(quoted) + "}"


def _apply_calls_postgresql(
    cursor: Any, records: list[CallRecord], *, prepared: bool
) -> list[str | None]:
    """The same as for SQLite in one round trip to the server, not three.

    One statement inserts the calls, and the events of the calls it did insert; Twilio's
    retries (calls stored already) are then looked up, a second round trip only when there are
    some. Each round trip is a wait the whole group commit shares, and server work besides.
    """
    first: dict[str, CallRecord] = {}
    for record in records:
        first.setdefault(record.call_sid, record)
    call_columns = list(zip(*(_call_row(record) for record in first.values()), strict=True))
    event_rows = [row for record in first.values() for row in _event_rows(record)]
    event_columns = list(zip(*event_rows, strict=True)) or [()] * len(_EVENT_COLUMNS)
    cursor.execute(
        _EXECUTE_CALLS if prepared else _CALLS_AND_EVENTS,
        [text_array(call_columns[index]) for index in _SENT_CALL_INDEXES]
        + [text_array(event_columns[index]) for index in range(len(_SENT_EVENT_COLUMNS))],
    )
    new = {str(row[0]) for row in cursor.fetchall()}
    stored_before = [sid for sid in first if sid not in new]
    first_answer: dict[str, str] = {}
    if stored_before:
        cursor.execute(
            "SELECT call_sid, answer FROM calls WHERE call_sid = ANY(%s)", (stored_before,)
        )
        first_answer = {str(sid): str(answer) for sid, answer in cursor.fetchall()}
    results: list[str | None] = []
    for record in records:
        sid = record.call_sid
        if sid in new:
            new.discard(sid)  # this batch's first request for the call: a new call
            first_answer[sid] = record.answer
            results.append(None)
        else:  # a retry: the first answer again, no new row
            results.append(first_answer.get(sid, first[sid].answer))
    return results


def _apply_leg(db: Database, cursor: Any, record: LegRecord) -> str | None:
    cursor.execute(
        db.sql(_INSERT_LEG),
        {
            "call_sid": record.call_sid,
            "step": record.step,
            "destinations": json.dumps(list(record.destinations)),
            "dial_call_sid": record.dial_call_sid,
            "status": record.status,
            "duration": record.duration,
            "answer": record.answer,
            "at": record.at,
        },
    )
    if cursor.fetchone() is None:
        cursor.execute(
            db.sql("SELECT answer FROM legs WHERE call_sid = :sid AND step = :step"),
            {"sid": record.call_sid, "step": record.step},
        )
        row = cursor.fetchone()
        return str(row[0]) if row else None
    cursor.execute(
        db.sql(_UPDATE_OUTCOME),
        {
            "call_sid": record.call_sid,
            "outcome": record.outcome,
            "duration": record.duration,
            "at": record.at,
        },
    )
    _insert_events(db, cursor, _event_rows(record))
    return None


def apply(
    db: Database, connection: Connection, records: Sequence[Record], *, prepared: bool = False
) -> list[str | None]:
    """Write ``records`` in one transaction (the caller commits).

    Returns, per record, ``None`` when it was new, or the answer first given when Twilio had
    already sent the same request (calls and legs; the callbacks' answers never vary).
    ``prepared``: the connection has run :func:`prepare_calls` (PostgreSQL only).
    """
    cursor = connection.cursor()
    results: list[str | None] = []
    run: list[CallRecord] = []
    for record in records:
        if isinstance(record, CallRecord):
            run.append(record)
            continue
        # Order matters between a call and its legs: write the calls gathered so far first.
        if run:
            results.extend(_apply_calls(db, cursor, run, prepared=prepared))
            run = []
        if isinstance(record, LegRecord):
            results.append(_apply_leg(db, cursor, record))
        else:
            from backline.store.callback_records import apply_callback

            apply_callback(db, cursor, record)
            _insert_events(db, cursor, _event_rows(record))
            results.append(None)
    if run:
        results.extend(_apply_calls(db, cursor, run, prepared=prepared))
    return results


_ROUTES = """
SELECT n.number, n.destinations, n.mode, n.ring_timeout, n.caller_id, n.message, n.language,
       n.voice, n.enabled, c.name, n.when_unanswered, n.screen, n.hours, n.timezone,
       n.closed_on, n.holiday_dates, n.when_closed, n.closed_message, n.answer_on_bridge,
       n.ring_tone, n.voicemail_max_length, n.transcribe
FROM numbers n LEFT JOIN clients c ON c.id = n.client_id
"""


def _json_strings(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    value = json.loads(text)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def schedule_of(
    hours: str | None,
    zone: str | None,
    closed_on: str | None,
    holiday_dates: str | None,
    default_zone: str,
) -> Schedule | None:
    """The number's hours and closed days in its zone; None when it has neither, or when what
    is stored cannot be read (written by hand, say): such a number is always open, as a
    fallback had better forward a call than refuse it, and one bad row must not stop the
    whole table from loading."""
    if not (hours or closed_on or holiday_dates):
        return None  # (the common case: no import of backline.core.hours for it)
    from backline.core.hours import Schedule, windows_of

    try:
        windows = windows_of(_json_strings(hours))
        closed = tuple(sorted(set(_json_strings(closed_on)) | set(_json_strings(holiday_dates))))
    except ValueError:  # InvalidValue, or JSON that is not JSON
        return None
    if not windows and not closed:
        return None
    return Schedule(zone or default_zone, windows, closed)


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _when_unanswered(value: str | None) -> WhenUnanswered | None:
    for known in WHEN_UNANSWERED:
        if value == known:
            return known
    return None


def load_table(db: Database, connection: Connection) -> tuple[dict[str, Route], Defaults]:
    """Read the whole table of numbers and the global settings (hundreds of rows: cheap)."""
    cursor = connection.cursor()
    cursor.execute("SELECT key, value FROM settings")
    defaults = defaults_from_settings(dict(cursor.fetchall()))
    cursor.execute(_ROUTES)
    routes: dict[str, Route] = {}
    for row in cursor.fetchall():
        (number, destinations, mode, timeout, caller_id, message, language, voice, enabled) = row[
            :9
        ]
        client, when_unanswered, screen, hours, zone, closed_on, holiday_dates = row[9:16]
        when_closed, closed_message, bridge, ring_tone, max_length, transcribe = row[16:]
        routes[number] = Route(
            number=number,
            destinations=tuple(json.loads(destinations)),
            mode=mode,
            ring_timeout=int(timeout),
            caller_id=caller_id,
            message=message,
            language=language,
            voice=voice,
            client=client,
            enabled=bool(enabled),
            when_unanswered=_when_unanswered(when_unanswered),
            screen=_optional_bool(screen),
            schedule=schedule_of(hours, zone, closed_on, holiday_dates, defaults.timezone),
            when_closed=when_closed or None,
            closed_message=closed_message or None,
            answer_on_bridge=_optional_bool(bridge),
            ring_tone=ring_tone or None,
            voicemail_max_length=int(max_length) if max_length else None,
            transcribe=_optional_bool(transcribe),
        )
    return routes, defaults
