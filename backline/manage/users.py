"""People who sign in to the web admin with a password.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation's binding), with
its recommended parameters; a hash made with older parameters is renewed at the next sign-in.
Never imported by the answer path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, exc, insert, select, update

from backline.manage.errors import InvalidValue
from backline.manage.tokens import Access
from backline.store.database import utc_now
from backline.store.schema import admin_sessions, admin_users

__all__ = [
    "MIN_PASSWORD",
    "UserEntry",
    "UserError",
    "add",
    "any_user",
    "check",
    "list_users",
    "remove",
    "set_password",
]

MIN_PASSWORD = 12
_NAME_MAX = 100
# Checked against when a name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY: list[str] = []


class UserError(Exception):
    """A user cannot be added, changed or removed; the message says why."""


@dataclass(frozen=True, slots=True)
class UserEntry:
    id: int
    name: str
    read_only: bool
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "read_only": self.read_only,
            "created_at": self.created_at,
        }


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_MAX or not name.isprintable() or " " in name:
        raise InvalidValue(
            "name",
            f"a user name is 1 to {_NAME_MAX} printable characters without spaces, not {name!r}",
        )
    return name


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidValue("password", f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InvalidValue("password", "a password has at most 1024 characters")
    return password


def _end_sessions(connection: Any, name: str) -> None:
    """A removed user's, or a changed password's, web sessions end at once."""
    connection.execute(delete(admin_sessions).where(admin_sessions.c.actor == f"user:{name}"))


def add(engine: Engine, name: str, password: str, *, read_only: bool = False) -> UserEntry:
    name, password = _name(name), _password(password)
    hashed = _hasher().hash(password)
    try:
        with engine.begin() as connection:
            if connection.execute(
                select(admin_users.c.id).where(admin_users.c.name == name)
            ).first():
                raise UserError(f"a user named {name!r} exists already")
            connection.execute(
                insert(admin_users).values(
                    name=name, password_hash=hashed, read_only=read_only, created_at=utc_now()
                )
            )
    except exc.IntegrityError:
        raise UserError(f"a user named {name!r} exists already") from None
    return _get(engine, name)


def _entry(row: Any) -> UserEntry:
    return UserEntry(
        id=row.id, name=row.name, read_only=bool(row.read_only), created_at=row.created_at
    )


def _get(engine: Engine, name: str) -> UserEntry:
    with engine.connect() as connection:
        row = connection.execute(select(admin_users).where(admin_users.c.name == name)).first()
    if row is None:
        raise UserError(f"no user named {name!r}")
    return _entry(row)


def list_users(engine: Engine) -> list[UserEntry]:
    with engine.connect() as connection:
        return [
            _entry(row)
            for row in connection.execute(select(admin_users).order_by(admin_users.c.id))
        ]


def any_user(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(select(admin_users.c.id).limit(1)).first() is not None


def set_password(engine: Engine, name: str, password: str) -> UserEntry:
    entry = _get(engine, _name(name))
    hashed = _hasher().hash(_password(password))
    with engine.begin() as connection:
        connection.execute(
            update(admin_users).where(admin_users.c.id == entry.id).values(password_hash=hashed)
        )
        _end_sessions(connection, entry.name)
    return entry


def remove(engine: Engine, name: str) -> UserEntry:
    entry = _get(engine, _name(name))
    with engine.begin() as connection:
        connection.execute(delete(admin_users).where(admin_users.c.id == entry.id))
        _end_sessions(connection, entry.name)
    return entry


def check(engine: Engine, name: str, password: str) -> Access | None:
    """The user's access if the password is theirs, else None (in about the same time)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    with engine.connect() as connection:
        row = connection.execute(
            select(admin_users).where(admin_users.c.name == name.strip()[:_NAME_MAX])
        ).first()
    if row is None:
        if not _DUMMY:
            _DUMMY.append(hasher.hash("not a password of anyone here"))
        try:
            hasher.verify(_DUMMY[0], password[:1024])
        except VerificationError:
            pass
        return None
    try:
        hasher.verify(row.password_hash, password[:1024])
    except (VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as connection:
            connection.execute(
                update(admin_users)
                .where(admin_users.c.id == row.id)
                .values(password_hash=hasher.hash(password))
            )
    return Access(f"user:{row.name}", read_only=bool(row.read_only))
