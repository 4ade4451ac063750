"""Many numbers at once, all or nothing: check every row, show the difference with the table,
then write it in one transaction.

Every value goes through the checks a single ``numbers add`` uses (numbers read with the
phone number library, as typed in the CLI; the voice against its language), and every problem
of every row is reported, each naming the row and the field, before anything is written. The
writing itself calls the management functions a single command calls, all inside one
transaction: a failure half-way leaves the table as it was.

A row's client that matches an existing one in any case is that client; a name that matches
none is created (a bulk import names its clients; the difference shows each new one, with the
nearest existing name when it looks like a typo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from backline.core import validation
from backline.core.validation import InvalidValue
from backline.imports.rows import Cell, RawRow
from backline.manage.clients import list_clients
from backline.manage.engine import in_one_transaction
from backline.manage.errors import DatabaseError, ManageError
from backline.manage.numbers import (
    KEEP,
    Keep,
    NumberEntry,
    add_number,
    change_number,
    field_changes,
    list_numbers,
    remove_number,
)
from backline.manage.phones import parse_destination, parse_number
from backline.manage.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "Added",
    "Changed",
    "Difference",
    "RowErrors",
    "Wanted",
    "apply",
    "difference",
    "preview",
    "validate",
]


class RowErrors(InvalidValue):
    """Rows that cannot be imported; ``errors`` has one sentence per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the rows; nothing was written"
        )


@dataclass(frozen=True, slots=True)
class Wanted:
    """A row, checked: the number as the row wants it; KEEP where the source has no column."""

    where: str
    number: str
    destinations: tuple[str, ...]
    client: str | Keep | None = KEEP
    mode: str | Keep = KEEP
    ring_timeout: int | Keep | None = KEEP  # None: the default-ring-timeout setting
    caller_id: str | Keep = KEEP
    message: str | Keep | None = KEEP
    language: str | Keep | None = KEEP
    voice: str | Keep | None = KEEP
    enabled: bool | Keep = KEEP


_TRUE = ("true", "yes", "1", "on", "enabled")
_FALSE = ("false", "no", "0", "off", "disabled")


def _enabled(text: str | None) -> bool:
    if text is None:
        return True
    word = text.lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise InvalidValue(f"{text!r} is not true or false")


def _one(cell: Cell) -> str | None:
    if isinstance(cell, tuple):
        raise InvalidValue("must be one value, not a list")
    return cell


def _destination_texts(cell: Cell) -> list[str]:
    if cell is None:
        return []
    items = cell if isinstance(cell, tuple) else tuple(cell.split(","))
    return [item.strip() for item in items if item.strip()]


class _Row:
    """Checks one row's cells, collecting a sentence per bad field instead of stopping."""

    def __init__(self, raw: RawRow, region: str, errors: list[str], notes: list[str]) -> None:
        self.raw = raw
        self.region = region
        self.errors = errors
        self.notes = notes

    def fail(self, column: str, error: Exception) -> None:
        self.errors.append(f"{self.raw.where}, {column}: {error}")

    def note(self, text: str | None) -> None:
        # Only warnings: "stored as +81..." for every row of a file would bury them.
        for line in (text or "").splitlines():
            if line.startswith("warning:"):
                self.notes.append(f"{self.raw.where}: {line}")

    def phone(self, column: str, text: str, what: str) -> str | None:
        try:
            parsed = parse_number(text, region=self.region, what=what)
        except InvalidValue as error:
            self.fail(column, error)
            return None
        self.note(parsed.note)
        return parsed.value

    def field(self, column: str, check: Any, default: Any = None) -> Any:
        """The column's checked value; KEEP without the column; ``default`` for an empty cell."""
        if column not in self.raw.cells:
            return KEEP
        try:
            text = _one(self.raw.cells[column])
            return default if text is None else check(text)
        except InvalidValue as error:
            self.fail(column, error)
            return KEEP

    def wanted(self) -> Wanted | None:
        cells = self.raw.cells
        before = len(self.errors)
        number = None
        try:
            text = _one(cells.get("number"))
        except InvalidValue as error:
            self.fail("number", error)
            text = None
        if text is None:
            if before == len(self.errors):
                self.errors.append(f"{self.raw.where}, number: empty")
        else:
            number = self.phone("number", text, "number")
        destinations: tuple[str, ...] = ()
        parsed: list[str] = []
        for item in _destination_texts(cells.get("destinations")):
            try:
                found = parse_destination(item, region=self.region)
            except InvalidValue as error:
                self.fail("destinations", error)
                continue
            self.note(found.note)
            parsed.append(found.value)
        if len(parsed) == len(_destination_texts(cells.get("destinations"))):
            try:
                destinations = validation.destination_list(parsed, number=number)
            except InvalidValue as error:
                self.fail("destinations", error)

        def caller_id(text: str) -> str:
            if text.lower() in validation.CALLER_ID_POLICIES:
                return validation.caller_id_policy(text)
            value = parse_number(text, region=self.region, what="caller ID")
            self.note(value.note)
            return validation.caller_id_policy(value.value)

        wanted = Wanted(
            where=self.raw.where,
            number=number or "",
            destinations=destinations,
            client=self.field("client", validation.client_name),
            mode=self.field("mode", validation.mode, "simultaneous"),
            ring_timeout=self.field("ring_timeout", validation.ring_timeout),
            caller_id=self.field("caller_id", caller_id, "twilio-number"),
            message=self.field("message", validation.message),
            language=self.field("language", validation.language),
            voice=self.field("voice", validation.voice),
            enabled=self.field("enabled", _enabled, True),
        )
        if isinstance(wanted.language, str) and isinstance(wanted.voice, str):
            try:
                validation.voice_for_language(wanted.language, wanted.voice)
            except InvalidValue as error:
                self.fail("voice", error)
        return wanted if len(self.errors) == before else None


def validate(rows: Iterable[RawRow], *, region: str = "") -> tuple[list[Wanted], list[str]]:
    """Every row checked; :class:`RowErrors` lists every problem. Also returns warnings
    (numbers the library does not think in use), each naming its row."""
    errors: list[str] = []
    notes: list[str] = []
    wanted: list[Wanted] = []
    first_seen: dict[str, str] = {}
    for raw in rows:
        row = _Row(raw, region, errors, notes).wanted()
        if row is None:
            continue
        if row.number in first_seen:
            errors.append(f"{row.where}, number: {row.number} is also in {first_seen[row.number]}")
            continue
        first_seen[row.number] = row.where
        wanted.append(row)
    if errors:
        raise RowErrors(errors)
    return wanted, notes


# --- the difference -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Added:
    row: Wanted
    entry: NumberEntry  # the number as it will be (times left empty)
    new_client: bool = False


@dataclass(frozen=True, slots=True)
class Changed:
    row: Wanted
    before: NumberEntry
    after: NumberEntry
    new_client: bool = False

    @property
    def fields(self) -> list[tuple[str, str, str]]:
        """(field, was, will be) for each field that changes."""
        return field_changes(self.before, self.after)


@dataclass(frozen=True, slots=True)
class Difference:
    added: tuple[Added, ...] = ()
    changed: tuple[Changed, ...] = ()
    removed: tuple[NumberEntry, ...] = ()
    unchanged: int = 0
    # In the table, not in the source, and kept (no --prune).
    not_in_source: tuple[NumberEntry, ...] = ()
    new_clients: tuple[str, ...] = ()
    # A new client's name and the existing one it is close to (a typo?).
    look_alike: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def _pick(value: Any, keep: Any) -> Any:
    return keep if value is KEEP else value


class _Clients:
    """The clients rows name, resolved as the table resolves them (any case, exact first)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.stored = list(names)
        self.new: dict[str, str] = {}  # casefolded -> the first spelling met

    def resolve(self, name: str) -> tuple[str, bool]:
        exact = [stored for stored in self.stored if stored == name]
        if exact:
            return exact[0], False
        same = [stored for stored in self.stored if stored.casefold() == name.casefold()]
        if len(same) > 1:
            choices = ", ".join(repr(stored) for stored in same)
            raise InvalidValue(
                f"{name!r} could be any of the clients {choices}: give the name exactly, or "
                f"merge them with `backline clients merge`"
            )
        if same:
            return same[0], False
        first = self.new.setdefault(name.casefold(), name)
        return first, True

    def look_alikes(self) -> list[tuple[str, str]]:
        """Each new name close to an existing one, or to another new one named before it."""
        known = {stored.casefold(): stored for stored in self.stored}
        pairs = []
        for key, name in self.new.items():
            close = get_close_matches(key, list(known), n=1, cutoff=0.75)
            if close:
                pairs.append((name, known[close[0]]))
            known[key] = name
        return pairs


def difference(
    wanted: Sequence[Wanted],
    current: Sequence[NumberEntry],
    client_names: Iterable[str],
    settings: Mapping[str, str],
    *,
    prune: bool = False,
    notes: Sequence[str] = (),
) -> Difference:
    """What importing ``wanted`` does to a table holding ``current`` (pure). The voice of each
    row is checked against the language it will speak, and a client name against the clients;
    :class:`RowErrors` lists every problem."""
    from backline.store.calls import defaults_from_settings

    defaults = defaults_from_settings(dict(settings))
    table = {entry.number: entry for entry in current}
    clients = _Clients(client_names)
    errors: list[str] = []
    added: list[Added] = []
    changed: list[Changed] = []
    unchanged = 0
    for row in wanted:
        before = table.get(row.number)
        new_client = False
        client = _pick(row.client, before.client if before else None)
        if row.client is not KEEP and row.client is not None:
            try:
                client, new_client = clients.resolve(row.client)
            except InvalidValue as error:
                errors.append(f"{row.where}, client: {error}")
                continue
        timeout = _pick(row.ring_timeout, before.ring_timeout if before else None)
        after = NumberEntry(
            number=row.number,
            destinations=row.destinations,
            mode=_pick(row.mode, before.mode if before else "simultaneous"),
            ring_timeout=defaults.ring_timeout if timeout is None else timeout,
            caller_id=_pick(row.caller_id, before.caller_id if before else "twilio-number"),
            message=_pick(row.message, before.message if before else None),
            language=_pick(row.language, before.language if before else None),
            voice=_pick(row.voice, before.voice if before else None),
            client=client,
            enabled=_pick(row.enabled, before.enabled if before else True),
            created_at=before.created_at if before else "",
            updated_at=before.updated_at if before else "",
        )
        try:
            validation.voice_of_apology(after.language, after.voice, defaults.language)
        except InvalidValue as error:
            errors.append(f"{row.where}, voice: {error}")
            continue
        if before is None:
            added.append(Added(row, after, new_client))
        elif field_changes(before, after):
            changed.append(Changed(row, before, after, new_client))
        else:
            unchanged += 1
    if errors:
        raise RowErrors(errors)
    listed = {row.number for row in wanted}
    gone = tuple(entry for entry in current if entry.number not in listed)
    return Difference(
        added=tuple(added),
        changed=tuple(changed),
        removed=gone if prune else (),
        unchanged=unchanged,
        not_in_source=() if prune else gone,
        new_clients=tuple(clients.new.values()),
        look_alike=tuple(clients.look_alikes()),
        notes=tuple(notes),
    )


# --- reading and writing the table --------------------------------------------------------------


def _state(engine: Engine) -> tuple[list[NumberEntry], list[str], dict[str, str]]:
    numbers = list_numbers(engine)
    clients = [client.name for client in list_clients(engine)]
    return numbers, clients, get_settings(engine)


def preview(
    engine: Engine, wanted: Sequence[Wanted], *, prune: bool = False, notes: Sequence[str] = ()
) -> Difference:
    """The difference with the table as it is now; nothing is written."""
    numbers, clients, settings = _state(engine)
    return difference(wanted, numbers, clients, settings, prune=prune, notes=notes)


def apply(
    engine: Engine,
    wanted: Sequence[Wanted],
    *,
    prune: bool = False,
    notes: Sequence[str] = (),
    then: Callable[[Engine], object] | None = None,
) -> Difference:
    """Write the difference in one transaction (worked out again inside it, so that a change
    made meanwhile by someone else is seen); return what was written. ``then`` writes more
    in the same transaction, after the numbers (and their new clients) are there."""
    from sqlalchemy import exc as sa_exc

    try:
        with engine.begin() as connection:
            shared = in_one_transaction(connection)
            numbers, clients, settings = _state(shared)
            diff = difference(wanted, numbers, clients, settings, prune=prune, notes=notes)
            _write(shared, diff)
            if then is not None:
                then(shared)
    except sa_exc.DBAPIError as error:
        raise DatabaseError(f"the database refused the import: {error.orig}") from None
    return diff


def _write(engine: Engine, diff: Difference) -> None:
    for entry in diff.removed:
        remove_number(engine, entry.number)
    for item in diff.added:
        row = item.row
        try:
            add_number(
                engine,
                row.number,
                row.destinations,
                client=item.entry.client,
                mode=item.entry.mode,
                ring_timeout=None if row.ring_timeout is KEEP else row.ring_timeout,
                caller_id=item.entry.caller_id,
                message=item.entry.message,
                language=item.entry.language,
                voice=item.entry.voice,
                enabled=item.entry.enabled,
                new_client=True,
            )
        except (InvalidValue, ManageError) as error:
            raise type(error)(f"{row.where}: {error}") from None
    for change in diff.changed:
        try:
            change_number(
                engine,
                change.after.number,
                new_client=True,
                **{name: _new_value(change, name) for name in _FIELDS},
            )
        except (InvalidValue, ManageError) as error:
            raise type(error)(f"{change.row.where}: {error}") from None


_FIELDS = (
    "destinations",
    "client",
    "mode",
    "ring_timeout",
    "caller_id",
    "message",
    "language",
    "voice",
    "enabled",
)


def _new_value(change: Changed, name: str) -> Any:
    """The field's new value, or KEEP when it stays as it is."""
    value = getattr(change.after, name)
    return KEEP if value == getattr(change.before, name) else value
