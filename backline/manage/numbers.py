"""The table of numbers: what each Twilio number does when its primary URL fails."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, select

from backline.core import validation
from backline.core.hours import closed_date, hours_spec
from backline.core.models import DEFAULT_RING_TIMEOUT, Defaults
from backline.core.validation import client_name, destination_list
from backline.manage.clients import _owner, _raced, _require_client
from backline.manage.engine import reading, transaction
from backline.manage.errors import AlreadyExists, InvalidValue, NotFound, checked, field
from backline.store.database import utc_now
from backline.store.schema import clients, numbers, settings

__all__ = [
    "FIELDS",
    "KEEP",
    "Keep",
    "NumberChange",
    "NumberEntry",
    "add_number",
    "change_number",
    "check_fields",
    "field_changes",
    "get_number",
    "list_numbers",
    "refresh_holidays",
    "remove_number",
]


class _Keep(enum.Enum):
    KEEP = "keep"


#: Passed to :func:`change_number` for "leave this field as it is" (``None`` clears a field).
KEEP = _Keep.KEEP
Keep = Literal[_Keep.KEEP]


@dataclass(frozen=True, slots=True)
class NumberEntry:
    """One row of the table of numbers; ``None`` for message/language/voice means the default."""

    number: str
    destinations: tuple[str, ...]
    mode: str
    ring_timeout: int
    caller_id: str
    message: str | None
    language: str | None
    voice: str | None
    client: str | None
    enabled: bool
    created_at: str
    updated_at: str
    # None below: the global setting applies.
    when_unanswered: str | None = None
    screen: bool | None = None
    hours: tuple[str, ...] = ()
    timezone: str | None = None
    closed_on: tuple[str, ...] = ()
    holidays: str | None = None
    # The public holidays expanded from ``holidays`` (the dates the answer path reads).
    holiday_dates: tuple[str, ...] = ()
    when_closed: str | None = None
    closed_message: str | None = None
    answer_on_bridge: bool | None = None
    ring_tone: str | None = None
    voicemail_max_length: int | None = None
    transcribe: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "client": self.client,
            "destinations": list(self.destinations),
            "mode": self.mode,
            "ring_timeout": self.ring_timeout,
            "caller_id": self.caller_id,
            "message": self.message,
            "language": self.language,
            "voice": self.voice,
            "enabled": self.enabled,
            "when_unanswered": self.when_unanswered,
            "voicemail_max_length": self.voicemail_max_length,
            "transcribe": self.transcribe,
            "screen": self.screen,
            "answer_on_bridge": self.answer_on_bridge,
            "ring_tone": self.ring_tone,
            "hours": list(self.hours),
            "timezone": self.timezone,
            "closed_on": list(self.closed_on),
            "holidays": self.holidays,
            "holidays_through": self.holiday_dates[-1] if self.holiday_dates else None,
            "when_closed": self.when_closed,
            "closed_message": self.closed_message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @property
    def has_hours(self) -> bool:
        """Whether the number is ever closed (hours, closed days or holidays)."""
        return bool(self.hours or self.closed_on or self.holidays)


def _number(value: str) -> str:
    return checked("number", validation.e164, value)


def _default_language(connection: Connection) -> str:
    stored = connection.execute(
        select(settings.c.value).where(settings.c.key == "default_language")
    ).scalar()
    return str(stored) if stored else Defaults().language


def _check_voice(connection: Connection, language: str | None, voice: str | None) -> None:
    """A route's voice must speak the language its apology is in (see the planner)."""
    with field("voice"):
        validation.voice_of_apology(language, voice, _default_language(connection))


def _number_query() -> Any:
    return select(
        numbers.c.number,
        numbers.c.destinations,
        numbers.c.mode,
        numbers.c.ring_timeout,
        numbers.c.caller_id,
        numbers.c.message,
        numbers.c.language,
        numbers.c.voice,
        clients.c.name,
        numbers.c.enabled,
        numbers.c.created_at,
        numbers.c.updated_at,
        *(numbers.c[name] for name in _EXTRA_COLUMNS),
    ).select_from(numbers.outerjoin(clients, clients.c.id == numbers.c.client_id))


# The columns of the issue-by-issue additions to a number, in _number_query's order after the
# first twelve.
_EXTRA_COLUMNS = (
    "when_unanswered",
    "screen",
    "hours",
    "timezone",
    "closed_on",
    "holidays",
    "holiday_dates",
    "when_closed",
    "closed_message",
    "answer_on_bridge",
    "ring_tone",
    "voicemail_max_length",
    "transcribe",
)


def _number_entry(row: Any) -> NumberEntry:
    extra = dict(zip(_EXTRA_COLUMNS, row[12:], strict=True))
    for name in ("screen", "answer_on_bridge", "transcribe"):
        extra[name] = None if extra[name] is None else bool(extra[name])
    for name in ("hours", "closed_on", "holiday_dates"):
        extra[name] = _json_list(extra[name])
    if extra["voicemail_max_length"] is not None:
        extra["voicemail_max_length"] = int(extra["voicemail_max_length"])
    return NumberEntry(
        number=row[0],
        destinations=tuple(json.loads(row[1])),
        mode=row[2],
        ring_timeout=int(row[3]),
        caller_id=row[4],
        message=row[5],
        language=row[6],
        voice=row[7],
        client=row[8],
        enabled=bool(row[9]),
        created_at=row[10],
        updated_at=row[11],
        **extra,
    )


def _get_number(connection: Connection, number: str) -> NumberEntry:
    row = connection.execute(_number_query().where(numbers.c.number == number)).one_or_none()
    if row is None:
        raise NotFound(f"{number} is not in the table of numbers")
    return _number_entry(row)


def _default_ring_timeout(connection: Connection) -> int:
    stored = connection.execute(
        select(settings.c.value).where(settings.c.key == "default_ring_timeout")
    ).scalar()
    try:
        return validation.ring_timeout(stored) if stored else DEFAULT_RING_TIMEOUT
    except validation.InvalidValue:
        return DEFAULT_RING_TIMEOUT


def _hours(specs: Sequence[str] | str) -> list[str]:
    if isinstance(specs, str):
        specs = [specs]
    return list(dict.fromkeys(hours_spec(spec) for spec in specs))


def _dates(dates: Sequence[str] | str) -> list[str]:
    if isinstance(dates, str):
        dates = [dates]
    return sorted({closed_date(day) for day in dates})


def _holiday_country(code: str) -> str:
    from backline.manage.calendar import holiday_country

    return holiday_country(code)


def _checks(number: str) -> dict[str, Callable[[Any], Any]]:
    """The check of each field of a number (``number`` for the checks that compare with it)."""

    def when_closed(value: str) -> str:
        stored = validation.when_closed(value)
        if stored == f"forward:{number}":
            raise InvalidValue("when_closed", f"{number} cannot forward to itself when closed")
        return stored

    return {
        "destinations": lambda values: destination_list(values, number=number),
        "client": client_name,
        "mode": validation.mode,
        "ring_timeout": validation.ring_timeout,
        "caller_id": validation.caller_id_policy,
        "message": validation.message,
        "language": validation.language,
        "voice": validation.voice,
        "enabled": bool,
        "when_unanswered": validation.when_unanswered,
        "voicemail_max_length": validation.voicemail_max_length,
        "transcribe": bool,
        "screen": bool,
        "answer_on_bridge": bool,
        "ring_tone": validation.ring_tone,
        "hours": _hours,
        "timezone": validation.time_zone,
        "closed_on": _dates,
        "holidays": _holiday_country,
        "when_closed": when_closed,
        "closed_message": validation.message,
    }


#: The fields of a number :func:`check_fields` knows, besides the number itself.
FIELDS: tuple[str, ...] = tuple(_checks(""))


def check_fields(number: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Each field of ``given`` checked, in the order given; no database is needed.

    ``None`` stays ``None`` (the setting applies again, or no client); :data:`KEEP` is left
    out. The first wrong value raises :class:`InvalidValue` naming its field. ``number`` must
    be checked already (destinations and when-closed may not forward to it).
    """
    checks = _checks(number)
    result: dict[str, Any] = {}
    for name, value in given.items():
        if value is KEEP:
            continue
        if name not in checks:
            raise TypeError(f"a number has no field {name!r}")
        result[name] = None if value is None else checked(name, checks[name], value)
    return result


def _stored(fields: dict[str, Any], today: date | None) -> dict[str, Any]:
    """The columns for checked fields (lists as JSON; holidays with the dates they stand for)."""
    values = dict(fields)
    if "destinations" in values:
        values["destinations"] = json.dumps(list(values["destinations"]))
    for name in ("hours", "closed_on"):
        if name in values:
            values[name] = json.dumps(values[name]) if values[name] else None
    if "holidays" in values:
        values.update(_holiday_values(values.pop("holidays"), today))
    return values


def _holiday_values(code: str | None, today: date | None) -> dict[str, Any]:
    """``holidays`` and the dates it stands for (computed now, here, never on the answer
    path); None clears both."""
    if code is None:
        return {"holidays": None, "holiday_dates": None}
    from backline.manage.calendar import holiday_country, holiday_dates

    country = holiday_country(code)
    first_year = (today or date.today()).year
    return {"holidays": country, "holiday_dates": json.dumps(holiday_dates(country, first_year))}


def refresh_holidays(engine: Engine, *, today: date | None = None) -> list[tuple[str, str, str]]:
    """Expand every number's public holidays again, from ``today``'s year (after a new year, or
    an update of the holidays library). Returns (number, country, last date) per number."""
    from backline.manage.calendar import holiday_dates

    first_year = (today or date.today()).year
    refreshed: list[tuple[str, str, str]] = []
    with transaction(engine) as connection:
        rows = connection.execute(
            select(numbers.c.number, numbers.c.holidays)
            .where(numbers.c.holidays.is_not(None))
            .order_by(numbers.c.number)
        ).all()
        by_country: dict[str, list[str]] = {}
        for number, country in rows:
            if country not in by_country:
                by_country[country] = holiday_dates(country, first_year)
            dates = by_country[country]
            connection.execute(
                numbers.update()
                .where(numbers.c.number == number)
                .values(holiday_dates=json.dumps(dates), updated_at=utc_now())
            )
            refreshed.append((number, country, dates[-1] if dates else ""))
    return refreshed


def add_number(
    engine: Engine,
    number: str,
    destinations: Sequence[str],
    *,
    client: str | None = None,
    mode: str = "simultaneous",
    ring_timeout: int | None = None,
    caller_id: str = "twilio-number",
    message: str | None = None,
    language: str | None = None,
    voice: str | None = None,
    enabled: bool = True,
    new_client: bool = False,
    when_unanswered: str | None = None,
    voicemail_max_length: int | None = None,
    transcribe: bool | None = None,
    screen: bool | None = None,
    answer_on_bridge: bool | None = None,
    ring_tone: str | None = None,
    hours: Sequence[str] | None = None,
    timezone: str | None = None,
    closed_on: Sequence[str] | None = None,
    holidays: str | None = None,
    when_closed: str | None = None,
    closed_message: str | None = None,
    today: date | None = None,
) -> NumberEntry:
    """Add a number to the table.

    ``client`` names an existing client (in any case), or a new one with ``new_client``;
    otherwise :class:`UnknownClient`. Without ``ring_timeout`` the number rings for the
    ``default_ring_timeout`` setting (30 s unless set). ``None`` for message, language, voice or
    any of the keyword fields after ``new_client`` means "use the setting". ``holidays`` (a
    country code) is expanded into the holidays of the coming years, from ``today``.
    """
    number = _number(number)
    fields = check_fields(
        number,
        {
            "destinations": destinations,
            "mode": mode,
            "ring_timeout": ring_timeout,
            "caller_id": caller_id,
            "message": message,
            "language": language,
            "voice": voice,
            "client": client,
            "enabled": enabled,
            "when_unanswered": when_unanswered,
            "voicemail_max_length": voicemail_max_length,
            "transcribe": transcribe,
            "screen": screen,
            "answer_on_bridge": answer_on_bridge,
            "ring_tone": ring_tone,
            "hours": hours,
            "timezone": timezone,
            "closed_on": closed_on,
            "holidays": holidays,
            "when_closed": when_closed,
            "closed_message": closed_message,
        },
    )
    timeout = fields.pop("ring_timeout")
    client = fields.pop("client")
    values = _stored(fields, today)
    values["number"] = number
    exists = f"{number} is already in the table of numbers"
    with transaction(engine, conflict=exists) as connection:
        if connection.execute(select(numbers.c.number).where(numbers.c.number == number)).first():
            raise AlreadyExists(exists)
        _check_voice(connection, values["language"], values["voice"])
        now = utc_now()
        values["ring_timeout"] = _default_ring_timeout(connection) if timeout is None else timeout
        if client is not None:
            values["client_id"], _created = _owner(connection, client, new_client=new_client)
        connection.execute(numbers.insert().values(**values, created_at=now, updated_at=now))
        return _get_number(connection, number)


@dataclass(frozen=True, slots=True)
class NumberChange:
    """A number before and after an update, and whether its client was created for it."""

    before: NumberEntry
    after: NumberEntry
    new_client: bool = False


def change_number(
    engine: Engine,
    number: str,
    *,
    destinations: Sequence[str] | Keep = KEEP,
    client: str | Keep | None = KEEP,
    mode: str | Keep = KEEP,
    ring_timeout: int | Keep = KEEP,
    caller_id: str | Keep = KEEP,
    message: str | Keep | None = KEEP,
    language: str | Keep | None = KEEP,
    voice: str | Keep | None = KEEP,
    enabled: bool | Keep = KEEP,
    new_client: bool = False,
    when_unanswered: str | Keep | None = KEEP,
    voicemail_max_length: int | Keep | None = KEEP,
    transcribe: bool | Keep | None = KEEP,
    screen: bool | Keep | None = KEEP,
    answer_on_bridge: bool | Keep | None = KEEP,
    ring_tone: str | Keep | None = KEEP,
    hours: Sequence[str] | Keep | None = KEEP,
    timezone: str | Keep | None = KEEP,
    closed_on: Sequence[str] | Keep | None = KEEP,
    holidays: str | Keep | None = KEEP,
    when_closed: str | Keep | None = KEEP,
    closed_message: str | Keep | None = KEEP,
    today: date | None = None,
) -> NumberChange:
    """Change the fields given; :data:`KEEP` leaves a field, ``None`` clears an optional one.

    A new ``destinations`` replaces the whole list. ``client`` follows :func:`add_number`'s
    rule. Returns the number before and after the change, read in one transaction.
    """
    number = _number(number)
    fields = check_fields(
        number,
        {
            "destinations": destinations,
            "client": client,
            "message": message,
            "language": language,
            "voice": voice,
            "mode": mode,
            "ring_timeout": ring_timeout,
            "caller_id": caller_id,
            "enabled": enabled,
            "when_unanswered": when_unanswered,
            "voicemail_max_length": voicemail_max_length,
            "transcribe": transcribe,
            "screen": screen,
            "answer_on_bridge": answer_on_bridge,
            "ring_tone": ring_tone,
            "hours": hours,
            "timezone": timezone,
            "closed_on": closed_on,
            "holidays": holidays,
            "when_closed": when_closed,
            "closed_message": closed_message,
        },
    )
    client = fields.pop("client", KEEP)
    values = _stored(fields, today)
    raced = _raced(client) if isinstance(client, str) else ""
    created = False
    with transaction(engine, conflict=raced) as connection:
        before = _get_number(connection, number)  # NotFound before anything is written
        if "language" in values or "voice" in values:
            _check_voice(
                connection,
                values.get("language", before.language),
                values.get("voice", before.voice),
            )
        if client is None:
            values["client_id"] = None
        elif client is not KEEP:
            values["client_id"], created = _owner(connection, client, new_client=new_client)
        if values:
            connection.execute(
                numbers.update()
                .where(numbers.c.number == number)
                .values(**values, updated_at=utc_now())
            )
        return NumberChange(before, _get_number(connection, number), created)


def get_number(engine: Engine, number: str) -> NumberEntry:
    number = _number(number)
    with reading(engine) as connection:
        return _get_number(connection, number)


def list_numbers(engine: Engine, client: str | None = None) -> list[NumberEntry]:
    """The numbers in number order, only those of ``client`` if given (which must exist)."""
    query = _number_query().order_by(numbers.c.number)
    with reading(engine) as connection:
        if client is not None:
            client_id = _require_client(connection, checked("client", client_name, client))
            query = query.where(numbers.c.client_id == client_id)
        return [_number_entry(row) for row in connection.execute(query)]


def remove_number(engine: Engine, number: str) -> NumberEntry:
    """Remove a number from the table; return what it was."""
    number = _number(number)
    with transaction(engine) as connection:
        entry = _get_number(connection, number)
        connection.execute(delete(numbers).where(numbers.c.number == number))
    return entry


def _json_list(text: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def field_changes(before: NumberEntry, after: NumberEntry) -> list[tuple[str, str, str]]:
    """(field, was, is now) for every field that differs, named as people read them (as
    `backline numbers show` names them)."""

    def shown(value: object, empty: str) -> str:
        if value is None:
            return empty
        if isinstance(value, tuple):
            return ", ".join(value)
        return str(value)

    fields: list[tuple[str, object, object, str]] = [
        ("forward to", before.destinations, after.destinations, "-"),
        ("client", before.client, after.client, "(none)"),
        ("mode", before.mode, after.mode, "-"),
        ("ring timeout", f"{before.ring_timeout} s", f"{after.ring_timeout} s", "-"),
        ("caller ID", before.caller_id, after.caller_id, "-"),
        ("message", before.message, after.message, "(default)"),
        ("language", before.language, after.language, "(default)"),
        ("voice", before.voice, after.voice, "(default)"),
        (
            "status",
            "enabled" if before.enabled else "disabled",
            "enabled" if after.enabled else "disabled",
            "-",
        ),
        ("when unanswered", before.when_unanswered, after.when_unanswered, "(default)"),
        (
            "voicemail max length",
            _seconds(before.voicemail_max_length),
            _seconds(after.voicemail_max_length),
            "(default)",
        ),
        ("transcribe", _on(before.transcribe), _on(after.transcribe), "(default)"),
        ("screen", _on(before.screen), _on(after.screen), "(default)"),
        (
            "answer on bridge",
            _on(before.answer_on_bridge),
            _on(after.answer_on_bridge),
            "(default)",
        ),
        ("ring tone", before.ring_tone, after.ring_tone, "(default)"),
        ("hours", before.hours or None, after.hours or None, "(none)"),
        ("time zone", before.timezone, after.timezone, "(default)"),
        ("closed on", before.closed_on or None, after.closed_on or None, "(none)"),
        ("holidays", before.holidays, after.holidays, "(none)"),
        ("when closed", before.when_closed, after.when_closed, "(default)"),
        ("closed message", before.closed_message, after.closed_message, "(the message)"),
    ]
    return [
        (label, shown(was, empty), shown(now, empty))
        for label, was, now, empty in fields
        if was != now
    ]


def _on(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


def _seconds(value: int | None) -> str | None:
    return None if value is None else f"{value} s"
