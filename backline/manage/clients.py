"""Clients: the organisations numbers (and channels) belong to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from backline.core.validation import client_name
from backline.manage.engine import reading, transaction
from backline.manage.errors import (
    AlreadyExists,
    Ambiguous,
    InUse,
    InvalidValue,
    NotFound,
    UnknownClient,
    checked,
)
from backline.store.database import utc_now
from backline.store.schema import clients, numbers

__all__ = [
    "ClientEntry",
    "add_client",
    "find_client",
    "get_or_create_client",
    "list_clients",
    "merge_clients",
    "remove_client",
    "rename_client",
    "resolve_client",
]


def _named(value: str, name: str = "name") -> str:
    """A client's name, checked (its failure names the field ``name``)."""
    return checked(name, client_name, value)


@dataclass(frozen=True, slots=True)
class ClientEntry:
    name: str
    numbers: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "numbers": self.numbers, "created_at": self.created_at}


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
    return _require_client(connection, _named(name))


def find_client(engine: Engine, name: str) -> str | None:
    """The client ``name`` as it is stored (in any case), or ``None`` if there is none."""
    name = _named(name)
    with reading(engine) as connection:
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
    name = _named(name)
    exists = f"a client named {name!r} already exists"
    with transaction(engine, conflict=exists) as connection:
        same = _clients_named(connection, name)
        if same:
            raise AlreadyExists(f"a client named {same[0][1]!r} already exists")
        client_id = _insert_client(connection, name)
    return _get_client(engine, client_id)


def get_or_create_client(engine: Engine, name: str) -> int:
    """The id of the client ``name``, created if it does not exist yet."""
    name = _named(name)
    with transaction(engine, conflict=_raced(name)) as connection:
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
    with reading(engine) as connection:
        row = connection.execute(_client_query().where(clients.c.id == client_id)).one_or_none()
    if row is None:
        raise NotFound("the client was removed by someone else at the same time")
    return ClientEntry(row[0], int(row[1]), row[2])


def list_clients(engine: Engine) -> list[ClientEntry]:
    """Every client with the count of its numbers, by name."""
    with reading(engine) as connection:
        rows = connection.execute(_client_query().order_by(clients.c.name)).all()
    return [ClientEntry(name, int(count), created_at) for name, count, created_at in rows]


def rename_client(engine: Engine, old: str, new: str) -> ClientEntry:
    """Rename a client; a change of case only ("acme" to "Acme") is a rename too."""
    old, new = _named(old, "old"), _named(new, "new")
    exists = f"a client named {new!r} already exists"
    with transaction(engine, conflict=exists) as connection:
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

    source, target = _named(source, "source"), _named(target, "target")
    with transaction(engine) as connection:
        source_id = _require_client(connection, source)
        target_id = _require_client(connection, target)
        if source_id == target_id:
            raise InvalidValue("target", f"{source!r} and {target!r} are the same client")
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
    name = _named(name)
    with transaction(engine) as connection:
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
