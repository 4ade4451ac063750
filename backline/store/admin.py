"""SQLAlchemy access for the management side (CLI, imports, REST API).

Never imported by the answer path. Every write is one transaction: a write that fails, for
whatever reason, changes nothing. Values are checked again here with
:mod:`backline.core.validation` (checking an already valid value is cheap and returns it
unchanged), so no caller can store something the answer path would misread.

Failures are :class:`AdminError` subclasses (what is wrong with the table) or
:class:`~backline.core.validation.InvalidValue` (what is wrong with a value); both carry a
sentence fit to show a person.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from backline.config import shown_database
from backline.core import validation
from backline.core.hours import closed_date, hours_spec
from backline.core.models import DEFAULT_RING_TIMEOUT, Defaults
from backline.core.redact import mask_password
from backline.core.validation import (
    MAX_DESTINATIONS,
    InvalidValue,
    client_name,
    destination_list,
)
from backline.store.database import private_file, utc_now
from backline.store.schema import (
    calls,
    clients,
    legs,
    numbers,
    screenings,
    settings,
    voicemails,
)

__all__ = [
    "KEEP",
    "MAX_DESTINATIONS",
    "SETTING_KEYS",
    "AdminError",
    "AlreadyExists",
    "Ambiguous",
    "CallEntry",
    "ClientEntry",
    "DatabaseError",
    "InUse",
    "Keep",
    "LegEntry",
    "NotFound",
    "NumberChange",
    "NumberEntry",
    "SchemaMissing",
    "UnknownClient",
    "VoicemailEntry",
    "add_client",
    "add_number",
    "built_in_settings",
    "change_number",
    "check_schema",
    "client_name",
    "destination_list",
    "find_client",
    "get_number",
    "get_or_create_client",
    "get_settings",
    "list_calls",
    "list_clients",
    "list_numbers",
    "make_engine",
    "merge_clients",
    "open_engine",
    "refresh_holidays",
    "remove_client",
    "remove_number",
    "rename_client",
    "resolve_client",
    "set_setting",
    "setting_key",
    "setting_value",
    "unset_setting",
    "update_number",
]

# Twilio's <Dial> rings at most ten <Number>/<Sip> nouns at once.

# The stored settings and the check each value goes through. Users may type the keys with
# dashes ("default-ring-timeout"); they are stored with underscores, as the answer path reads them.
SETTING_KEYS: tuple[str, ...] = (
    "default_message",
    "default_language",
    "default_voice",
    "catch_all",
    "default_ring_timeout",
    "default_when_unanswered",
    "voicemail_max_length",
    "default_transcribe",
    "default_screen",
    "default_timezone",
    "default_when_closed",
    "default_answer_on_bridge",
    "default_ring_tone",
)
# Settings that are on or off, stored as "on" / "off".
FLAG_SETTINGS = ("default_transcribe", "default_screen", "default_answer_on_bridge")

# The tables the management side works on; a database without them has not been upgraded.
_TABLES = ("clients", "numbers", "settings", "calls", "legs")


# --- errors -------------------------------------------------------------------------------------


class AdminError(Exception):
    """The table cannot do what was asked; the message says why in one sentence."""


class NotFound(AdminError):
    """The number or client named does not exist."""


class AlreadyExists(AdminError):
    """A number or client of that name is already there."""


class UnknownClient(NotFound):
    """A number was to join a client that does not exist, and creating one was not asked for."""


class Ambiguous(AdminError):
    """Several clients have the name given, each in a different case."""


class InUse(AdminError):
    """A client cannot be removed while numbers still belong to it."""


class SchemaMissing(AdminError):
    """The database has not been created or migrated yet."""


class DatabaseError(AdminError):
    """The database could not be reached or refused the statement."""


# --- values -------------------------------------------------------------------------------------


class _Keep(enum.Enum):
    KEEP = "keep"


#: Passed to :func:`update_number` for "leave this field as it is" (``None`` clears a field).
KEEP = _Keep.KEEP
Keep = Literal[_Keep.KEEP]


@dataclass(frozen=True, slots=True)
class ClientEntry:
    name: str
    numbers: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "numbers": self.numbers, "created_at": self.created_at}


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


# --- checks on values that validation.py checks one at a time ----------------------------------


def setting_key(name: str) -> str:
    """The stored key for a setting as a person types it (``catch-all`` -> ``catch_all``)."""
    key = name.strip().lower().replace("-", "_")
    if key in SETTING_KEYS:
        return key
    valid = ", ".join(k.replace("_", "-") for k in SETTING_KEYS)
    raise InvalidValue(f"unknown setting {name!r}: the settings are {valid}")


def setting_value(key: str, value: str) -> str:
    """Check ``value`` for the stored ``key``; return the text to store."""
    key = setting_key(key)
    if key == "default_message":
        return validation.message(value)
    if key == "default_language":
        return validation.language(value)
    if key == "default_voice":
        return validation.voice(value)
    if key == "catch_all":
        return validation.destination(value)
    if key == "default_ring_timeout":
        return str(validation.ring_timeout(value))
    if key == "default_when_unanswered":
        return validation.when_unanswered(value)
    if key == "voicemail_max_length":
        return str(validation.voicemail_max_length(value))
    if key in FLAG_SETTINGS:
        return "on" if flag(value, what=key.replace("_", "-")) else "off"
    if key == "default_timezone":
        return validation.time_zone(value)
    if key == "default_when_closed":
        return validation.when_closed(value)
    if key == "default_ring_tone":
        return validation.ring_tone(value)
    raise InvalidValue(f"setting {key!r} has no check")  # a key added without one


def flag(value: str | bool, *, what: str) -> bool:
    """on/off, yes/no, true/false, 1/0 -> bool."""
    if isinstance(value, bool):
        return value
    cleaned = value.strip().lower()
    if cleaned in ("on", "yes", "true", "1"):
        return True
    if cleaned in ("off", "no", "false", "0"):
        return False
    raise InvalidValue(f"{what} {value!r} is not on or off")


def _number(value: str) -> str:
    return validation.e164(value)


def _default_language(connection: Connection) -> str:
    stored = connection.execute(
        select(settings.c.value).where(settings.c.key == "default_language")
    ).scalar()
    return str(stored) if stored else Defaults().language


def _check_voice(connection: Connection, language: str | None, voice: str | None) -> None:
    """A route's voice must speak the language its apology is in (see the planner)."""
    validation.voice_of_apology(language, voice, _default_language(connection))


# --- engines and transactions -------------------------------------------------------------------


def make_engine(database_url: str) -> Engine:
    """An engine for short management sessions; SQLite gets the same pragmas as the answer path."""
    if database_url.startswith("sqlite"):
        # No folder is created here: `backline db upgrade` decides that, and says so. The file
        # is, readable by this user only, before SQLAlchemy would create it with the default
        # mode: it holds callers' numbers.
        path = database_url.removeprefix("sqlite:///")
        if (
            path
            and path != ":memory:"
            and database_url != "sqlite://"
            and Path(path).parent.is_dir()
        ):
            private_file(Path(path))
        engine = create_engine(database_url, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": 5})


def _reason(error: BaseException) -> str:
    origin = getattr(error, "orig", None) or error
    lines = str(origin).strip().splitlines()
    return lines[0] if lines else type(origin).__name__


def _upgrade_first(database_url: str) -> SchemaMissing:
    return SchemaMissing(
        f"the database {shown_database(database_url)} has no backline tables yet; "
        f"run `backline db upgrade` first"
    )


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaMissing` without the tables, :class:`DatabaseError` if unreachable."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
    except sa_exc.DBAPIError as error:
        reason = mask_password(_reason(error))
        raise DatabaseError(f"cannot reach the database {shown_database(url)}: {reason}") from None
    if not set(_TABLES) <= present:
        raise _upgrade_first(url)


def open_engine(database_url: str) -> Engine:
    """An engine for ``database_url`` whose tables are known to exist.

    A SQLite file that does not exist is reported as missing tables, not silently created.
    """
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path and not path.startswith(":memory:") and not Path(path).exists():
            raise _upgrade_first(database_url)
    try:
        engine = make_engine(database_url)
    except (sa_exc.ArgumentError, ValueError, ImportError) as error:
        shown = shown_database(database_url)
        reason = mask_password(str(error))
        raise DatabaseError(f"cannot use the database URL {shown}: {reason}") from None
    check_schema(engine)
    return engine


@contextmanager
def _transaction(engine: Engine, *, conflict: str = "") -> Iterator[Connection]:
    """One transaction; any failure rolls it back and surfaces as an AdminError or InvalidValue.

    ``conflict`` is the message for a unique key broken by a concurrent writer between the
    check and the write (the checks inside the transaction catch everything else).
    """
    try:
        with engine.begin() as connection:
            yield connection
    except sa_exc.IntegrityError as error:
        if conflict:
            raise AlreadyExists(conflict) from None
        raise DatabaseError(f"the database refused the change: {_reason(error)}") from error
    except sa_exc.DBAPIError as error:
        raise DatabaseError(f"the database refused the change: {_reason(error)}") from error


@contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as connection:
            yield connection
    except sa_exc.DBAPIError as error:
        raise DatabaseError(f"cannot read the database: {_reason(error)}") from error


# --- clients ------------------------------------------------------------------------------------


def _clients_named(connection: Connection, name: str) -> list[tuple[int, str]]:
    """The clients whose name is ``name`` in any case ("sakura dental" is "Sakura Dental")."""
    wanted = name.casefold()
    rows = connection.execute(select(clients.c.id, clients.c.name).order_by(clients.c.id))
    return [(int(found), stored) for found, stored in rows if stored.casefold() == wanted]


def _client_id(connection: Connection, name: str) -> int | None:
    """The client called ``name``, whatever the case; the exact spelling wins.

    Names are compared in Python (``casefold``), the same way on every database and for every
    script, not with SQL's ``lower``. Two clients that differ only in case (made before names
    were matched this way) are refused as ambiguous unless one is spelled exactly.
    """
    matches = _clients_named(connection, name)
    for found, stored in matches:
        if stored == name:
            return found
    if len(matches) > 1:
        names = ", ".join(repr(stored) for _found, stored in matches)
        raise Ambiguous(
            f"{name!r} could be any of the clients {names}: give the name exactly, or "
            f"merge them with `backline clients merge`"
        )
    return matches[0][0] if matches else None


def _no_client(connection: Connection, name: str) -> str:
    """ "there is no client named ...", with the nearest existing names as a hint."""
    from difflib import get_close_matches

    stored_names = connection.execute(select(clients.c.name)).scalars()
    names = {str(stored).casefold(): str(stored) for stored in stored_names}
    close = get_close_matches(name.casefold(), list(names), n=2, cutoff=0.75)
    hint = " or ".join(repr(names[key]) for key in close)
    return f"there is no client named {name!r}" + (f" (did you mean {hint}?)" if hint else "")


def _require_client(connection: Connection, name: str) -> int:
    found = _client_id(connection, name)
    if found is None:
        raise NotFound(_no_client(connection, name))
    return found


def resolve_client(connection: Connection, name: str) -> int:
    """The id of the existing client ``name`` (in any case); :class:`NotFound` otherwise."""
    return _require_client(connection, client_name(name))


def find_client(engine: Engine, name: str) -> str | None:
    """The client ``name`` as it is stored (in any case), or ``None`` if there is none."""
    name = client_name(name)
    with _reading(engine) as connection:
        found = _client_id(connection, name)
        if found is None:
            return None
        return str(connection.execute(select(clients.c.name).where(clients.c.id == found)).scalar())


def _insert_client(connection: Connection, name: str) -> int:
    result = connection.execute(
        clients.insert().values(name=name, created_at=utc_now()).returning(clients.c.id)
    )
    return int(result.scalar_one())


def _ensure_client(connection: Connection, name: str) -> int:
    found = _client_id(connection, name)
    return found if found is not None else _insert_client(connection, name)


def _owner(connection: Connection, name: str, *, new_client: bool) -> tuple[int, bool]:
    """The client a number joins, and whether it was created for it.

    A name that matches no client is refused unless ``new_client``: a typo ("sakura dentl")
    would otherwise become a second client beside the real one, whose client-scoped channels
    would then never hear of that number.
    """
    found = _client_id(connection, name)
    if found is not None:
        return found, False
    if not new_client:
        raise UnknownClient(_no_client(connection, name))
    return _insert_client(connection, name), True


def add_client(engine: Engine, name: str) -> ClientEntry:
    name = client_name(name)
    exists = f"a client named {name!r} already exists"
    with _transaction(engine, conflict=exists) as connection:
        same = _clients_named(connection, name)
        if same:
            raise AlreadyExists(f"a client named {same[0][1]!r} already exists")
        client_id = _insert_client(connection, name)
    return _get_client(engine, client_id)


def get_or_create_client(engine: Engine, name: str) -> int:
    """The id of the client ``name``, created if it does not exist yet."""
    name = client_name(name)
    with _transaction(engine, conflict=_raced(name)) as connection:
        return _ensure_client(connection, name)


def _raced(name: str | None) -> str:
    return f"client {name!r} was being created by someone else at the same time; try again"


def _client_query() -> Any:
    count = (
        select(func.count())
        .select_from(numbers)
        .where(numbers.c.client_id == clients.c.id)
        .scalar_subquery()
    )
    return select(clients.c.name, count, clients.c.created_at)


def _get_client(engine: Engine, client_id: int) -> ClientEntry:
    with _reading(engine) as connection:
        row = connection.execute(_client_query().where(clients.c.id == client_id)).one_or_none()
    if row is None:
        raise NotFound("the client was removed by someone else at the same time")
    return ClientEntry(row[0], int(row[1]), row[2])


def list_clients(engine: Engine) -> list[ClientEntry]:
    """Every client with the count of its numbers, by name."""
    with _reading(engine) as connection:
        rows = connection.execute(_client_query().order_by(clients.c.name)).all()
    return [ClientEntry(name, int(count), created_at) for name, count, created_at in rows]


def rename_client(engine: Engine, old: str, new: str) -> ClientEntry:
    """Rename a client; a change of case only ("acme" to "Acme") is a rename too."""
    old, new = client_name(old), client_name(new)
    exists = f"a client named {new!r} already exists"
    with _transaction(engine, conflict=exists) as connection:
        client_id = _require_client(connection, old)
        others = [stored for found, stored in _clients_named(connection, new) if found != client_id]
        if others:
            raise AlreadyExists(f"a client named {others[0]!r} already exists")
        connection.execute(clients.update().where(clients.c.id == client_id).values(name=new))
    return _get_client(engine, client_id)


def merge_clients(engine: Engine, source: str, target: str) -> tuple[str, str, int, int]:
    """Move every number and channel of ``source`` to ``target``, then remove ``source``.

    For two clients that are one (a second spelling made by mistake). Returns the two names as
    stored and how many numbers and channels moved. The call log keeps the names calls had.
    """
    from backline.store.schema import channels

    source, target = client_name(source), client_name(target)
    with _transaction(engine) as connection:
        source_id = _require_client(connection, source)
        target_id = _require_client(connection, target)
        if source_id == target_id:
            raise InvalidValue(f"{source!r} and {target!r} are the same client")
        names = dict(
            connection.execute(
                select(clients.c.id, clients.c.name).where(clients.c.id.in_([source_id, target_id]))
            ).all()
        )
        moved_numbers = connection.execute(
            numbers.update()
            .where(numbers.c.client_id == source_id)
            .values(client_id=target_id, updated_at=utc_now())
        ).rowcount
        # Before the delete: a client's channels go with it (ON DELETE CASCADE).
        moved_channels = connection.execute(
            channels.update().where(channels.c.client_id == source_id).values(client_id=target_id)
        ).rowcount
        connection.execute(delete(clients).where(clients.c.id == source_id))
    return names[source_id], names[target_id], int(moved_numbers), int(moved_channels)


def remove_client(engine: Engine, name: str, *, force: bool = False) -> int:
    """Remove a client; return how many numbers were detached from it.

    Refused with :class:`InUse` while numbers belong to it, unless ``force``: then they stay in
    the table, with no client.
    """
    name = client_name(name)
    with _transaction(engine) as connection:
        client_id = _require_client(connection, name)
        name = connection.execute(
            select(clients.c.name).where(clients.c.id == client_id)
        ).scalar_one()
        count = int(
            connection.execute(
                select(func.count()).select_from(numbers).where(numbers.c.client_id == client_id)
            ).scalar_one()
        )
        if count and not force:
            them = "it" if count == 1 else "them"
            raise InUse(
                f"client {name!r} still has {_plural(count, 'number')}: move or remove {them} first"
            )
        if count:
            connection.execute(
                numbers.update()
                .where(numbers.c.client_id == client_id)
                .values(client_id=None, updated_at=utc_now())
            )
        connection.execute(delete(clients).where(clients.c.id == client_id))
    return count


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- numbers ------------------------------------------------------------------------------------


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
    except InvalidValue:
        return DEFAULT_RING_TIMEOUT


def _optional(check: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else check(value)


def _hours_json(specs: Sequence[str]) -> str | None:
    if isinstance(specs, str):
        specs = [specs]
    stored = list(dict.fromkeys(hours_spec(spec) for spec in specs))
    return json.dumps(stored) if stored else None


def _dates_json(dates: Sequence[str]) -> str | None:
    if isinstance(dates, str):
        dates = [dates]
    stored = sorted({closed_date(day) for day in dates})
    return json.dumps(stored) if stored else None


def _when_closed(number: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        checked = validation.when_closed(value)
        if checked == f"forward:{number}":
            raise InvalidValue(f"{number} cannot forward to itself when closed")
        return checked

    return check


def _extra_values(given: dict[str, Any], number: str) -> dict[str, Any]:
    """The stored form of each field given (None clears it: the setting applies again)."""
    checks: dict[str, Callable[[Any], Any]] = {
        "when_unanswered": validation.when_unanswered,
        "voicemail_max_length": validation.voicemail_max_length,
        "transcribe": bool,
        "screen": bool,
        "answer_on_bridge": bool,
        "ring_tone": validation.ring_tone,
        "hours": _hours_json,
        "timezone": validation.time_zone,
        "closed_on": _dates_json,
        "when_closed": _when_closed(number),
        "closed_message": validation.message,
    }
    return {name: None if value is None else checks[name](value) for name, value in given.items()}


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
    with _transaction(engine) as connection:
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
    extras = _extra_values(
        {
            "when_unanswered": when_unanswered,
            "voicemail_max_length": voicemail_max_length,
            "transcribe": transcribe,
            "screen": screen,
            "answer_on_bridge": answer_on_bridge,
            "ring_tone": ring_tone,
            "hours": hours,
            "timezone": timezone,
            "closed_on": closed_on,
            "when_closed": when_closed,
            "closed_message": closed_message,
        },
        number,
    )
    extras.update(_holiday_values(holidays, today))
    values: dict[str, Any] = {
        "number": number,
        "destinations": json.dumps(list(destination_list(destinations, number=number))),
        "mode": validation.mode(mode),
        "caller_id": validation.caller_id_policy(caller_id),
        "message": _optional(validation.message, message),
        "language": _optional(validation.language, language),
        "voice": _optional(validation.voice, voice),
        "enabled": bool(enabled),
    }
    values.update(extras)
    timeout = None if ring_timeout is None else validation.ring_timeout(ring_timeout)
    client = None if client is None else client_name(client)
    exists = f"{number} is already in the table of numbers"
    with _transaction(engine, conflict=exists) as connection:
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


def update_number(
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
    **extras: Any,
) -> NumberEntry:
    """Change the fields given; :data:`KEEP` leaves a field, ``None`` clears an optional one.

    A new ``destinations`` replaces the whole list. ``client`` follows :func:`add_number`'s
    rule. Returns the number as it is now; :func:`change_number` also gives what it was.
    """
    return change_number(
        engine,
        number,
        destinations=destinations,
        client=client,
        mode=mode,
        ring_timeout=ring_timeout,
        caller_id=caller_id,
        message=message,
        language=language,
        voice=voice,
        enabled=enabled,
        new_client=new_client,
        **extras,
    ).after


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
    """:func:`update_number`, returning the number before and after, read in one transaction."""
    number = _number(number)
    given = {
        "when_unanswered": when_unanswered,
        "voicemail_max_length": voicemail_max_length,
        "transcribe": transcribe,
        "screen": screen,
        "answer_on_bridge": answer_on_bridge,
        "ring_tone": ring_tone,
        "hours": hours,
        "timezone": timezone,
        "closed_on": closed_on,
        "when_closed": when_closed,
        "closed_message": closed_message,
    }
    values: dict[str, Any] = _extra_values(
        {name: value for name, value in given.items() if value is not KEEP}, number
    )
    if holidays is not KEEP:
        values.update(_holiday_values(holidays, today))
    if destinations is not KEEP:
        values["destinations"] = json.dumps(list(destination_list(destinations, number=number)))
    if mode is not KEEP:
        values["mode"] = validation.mode(mode)
    if ring_timeout is not KEEP:
        values["ring_timeout"] = validation.ring_timeout(ring_timeout)
    if caller_id is not KEEP:
        values["caller_id"] = validation.caller_id_policy(caller_id)
    if message is not KEEP:
        values["message"] = _optional(validation.message, message)
    if language is not KEEP:
        values["language"] = _optional(validation.language, language)
    if voice is not KEEP:
        values["voice"] = _optional(validation.voice, voice)
    if enabled is not KEEP:
        values["enabled"] = bool(enabled)
    if client is not KEEP and client is not None:
        client = client_name(client)
    raced = _raced(client) if isinstance(client, str) else ""
    created = False
    with _transaction(engine, conflict=raced) as connection:
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
    with _reading(engine) as connection:
        return _get_number(connection, number)


def list_numbers(engine: Engine, client: str | None = None) -> list[NumberEntry]:
    """The numbers in number order, only those of ``client`` if given (which must exist)."""
    query = _number_query().order_by(numbers.c.number)
    with _reading(engine) as connection:
        if client is not None:
            client_id = _require_client(connection, client_name(client))
            query = query.where(numbers.c.client_id == client_id)
        return [_number_entry(row) for row in connection.execute(query)]


def remove_number(engine: Engine, number: str) -> NumberEntry:
    """Remove a number from the table; return what it was."""
    number = _number(number)
    with _transaction(engine) as connection:
        entry = _get_number(connection, number)
        connection.execute(delete(numbers).where(numbers.c.number == number))
    return entry


# --- settings -----------------------------------------------------------------------------------


def get_settings(engine: Engine) -> dict[str, str]:
    """The settings that are set, by stored key (unset keys are absent: built-in defaults apply)."""
    with _reading(engine) as connection:
        rows = connection.execute(select(settings.c.key, settings.c.value)).all()
    return {key: value for key, value in rows}


def set_setting(engine: Engine, key: str, value: str) -> str:
    """Store a checked value under ``key`` (either spelling); return the stored value."""
    key = setting_key(key)
    stored = setting_value(key, value)
    with _transaction(engine) as connection:
        if key in ("default_language", "default_voice"):
            _check_default_voice(connection, key, stored)
        changed = connection.execute(
            settings.update().where(settings.c.key == key).values(value=stored)
        ).rowcount
        if not changed:
            connection.execute(settings.insert().values(key=key, value=stored))
    return stored


def _check_default_voice(connection: Connection, key: str, stored: str) -> None:
    """The default voice must speak the default language, whichever of the two changes."""
    current = dict(
        connection.execute(
            select(settings.c.key, settings.c.value).where(
                settings.c.key.in_(("default_language", "default_voice"))
            )
        ).all()
    )
    language = stored if key == "default_language" else current.get("default_language")
    voice = stored if key == "default_voice" else current.get("default_voice")
    language = language or Defaults().language
    if voice is None:
        return  # the built-in voice is replaced by the language's own default where needed
    try:
        validation.voice_for_language(language, voice, what="default-voice")
    except InvalidValue as error:
        if key == "default_language":
            raise InvalidValue(
                f"{error}; run `backline settings unset default-voice` first ({language}'s "
                f"default voice is then used), and set default-voice again afterwards if you like"
            ) from None
        raise


def unset_setting(engine: Engine, key: str) -> bool:
    """Go back to the built-in default for ``key``; return whether it had been set."""
    key = setting_key(key)
    with _transaction(engine) as connection:
        removed = connection.execute(delete(settings).where(settings.c.key == key)).rowcount
    return bool(removed)


def built_in_settings() -> dict[str, str | None]:
    """The value each setting has when it is not set, by stored key."""
    defaults = Defaults()
    return {
        "default_message": defaults.message,
        "default_language": defaults.language,
        "default_voice": defaults.voice,
        "catch_all": defaults.catch_all,
        "default_ring_timeout": str(defaults.ring_timeout),
        "default_when_unanswered": defaults.when_unanswered,
        "voicemail_max_length": str(defaults.voicemail_max_length),
        "default_transcribe": "on" if defaults.transcribe else "off",
        "default_screen": "on" if defaults.screen else "off",
        "default_timezone": defaults.timezone,
        "default_when_closed": defaults.when_closed,
        "default_answer_on_bridge": "on" if defaults.answer_on_bridge else "off",
        "default_ring_tone": defaults.ring_tone,
    }


# --- the call log -------------------------------------------------------------------------------


def list_calls(engine: Engine, limit: int = 50) -> list[CallEntry]:
    """The ``limit`` newest calls, newest first, each with its dial legs in step order."""
    if limit < 1:
        raise InvalidValue(f"limit {limit} must be at least 1")
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
        .order_by(calls.c.created_at.desc(), calls.c.call_sid.desc())
        .limit(limit)
    )
    with _reading(engine) as connection:
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


def _json_list(text: str | None) -> tuple[str, ...]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(item) for item in value) if isinstance(value, list) else ()
