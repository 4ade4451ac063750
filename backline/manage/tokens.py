"""Bearer tokens for the REST API and the web admin.

A token is shown once, when it is made; only its SHA-256 is stored (a token is 256 random bits,
so a fast hash is enough: nothing can be guessed from it). ``BACKLINE_ADMIN_TOKEN`` is a token
that lives in the environment instead, for simple set-ups. Never imported by the answer path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, exc, func, insert, select, update

from backline.manage.errors import InvalidValue
from backline.store.database import utc_now
from backline.store.schema import admin_sessions, api_tokens

__all__ = [
    "ENV_ACTOR",
    "PREFIX",
    "Access",
    "TokenEntry",
    "TokenError",
    "any_token",
    "check",
    "create",
    "list_tokens",
    "revoke",
    "token_hash",
]

PREFIX = "bl_"
ENV_ACTOR = "token:BACKLINE_ADMIN_TOKEN"
_NAME_MAX = 100


class TokenError(Exception):
    """A token cannot be made or revoked; the message says why."""


@dataclass(frozen=True, slots=True)
class Access:
    """Who is asking, and whether they may change things."""

    actor: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class TokenEntry:
    id: int
    name: str
    read_only: bool
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "read_only": self.read_only,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_MAX or not name.isprintable():
        raise InvalidValue(
            "name", f"a token's name is 1 to {_NAME_MAX} printable characters, not {name!r}"
        )
    return name


def create(engine: Engine, name: str, *, read_only: bool = False) -> tuple[TokenEntry, str]:
    """Make a token; return its entry and the token itself (shown once, never stored)."""
    name = _name(name)
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with engine.begin() as connection:
            taken = connection.execute(
                select(api_tokens.c.id).where(api_tokens.c.name == name)
            ).first()
            if taken:
                raise TokenError(
                    f"a token named {name!r} exists already; revoke it or pick another name"
                )
            connection.execute(
                insert(api_tokens).values(
                    name=name,
                    token_hash=token_hash(token),
                    read_only=read_only,
                    created_at=utc_now(),
                )
            )
    except exc.IntegrityError:
        raise TokenError(f"a token named {name!r} exists already") from None
    return _get(engine, name), token


def _entry(row: Any) -> TokenEntry:
    return TokenEntry(
        id=row.id,
        name=row.name,
        read_only=bool(row.read_only),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _get(engine: Engine, name: str) -> TokenEntry:
    with engine.connect() as connection:
        row = connection.execute(select(api_tokens).where(api_tokens.c.name == name)).first()
    if row is None:
        raise TokenError(f"no token named {name!r}")
    return _entry(row)


def list_tokens(engine: Engine) -> list[TokenEntry]:
    with engine.connect() as connection:
        rows = connection.execute(select(api_tokens).order_by(api_tokens.c.id)).all()
    return [_entry(row) for row in rows]


def revoke(engine: Engine, name: str) -> TokenEntry:
    """Revoke a token by name: it stops working at once (the row is kept, for the record)."""
    entry = _get(engine, _name(name))
    if entry.revoked_at is not None:
        raise TokenError(f"the token {entry.name!r} was revoked already, at {entry.revoked_at}")
    with engine.begin() as connection:
        connection.execute(
            update(api_tokens).where(api_tokens.c.id == entry.id).values(revoked_at=utc_now())
        )
        # The web sessions signed in with it end too.
        connection.execute(
            delete(admin_sessions).where(admin_sessions.c.actor == f"token:{entry.name}")
        )
    return _get(engine, entry.name)


def any_token(engine: Engine) -> bool:
    """Whether a token that still works exists (the admin surface is off without one)."""
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(api_tokens).where(api_tokens.c.revoked_at.is_(None))
        ).scalar_one()
    return bool(count)


def check(engine: Engine, token: str, *, env_token: str = "") -> Access | None:
    """Who ``token`` belongs to, or None. Records when a stored token was last used."""
    if not token or len(token) > 200:
        return None
    if env_token and hmac.compare_digest(token.encode(), env_token.encode()):
        return Access(ENV_ACTOR, read_only=False)
    wanted = token_hash(token)
    with engine.connect() as connection:
        row = connection.execute(
            select(api_tokens).where(
                api_tokens.c.token_hash == wanted, api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    with engine.begin() as connection:
        connection.execute(
            update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=utc_now())
        )
    return Access(f"token:{row.name}", read_only=bool(row.read_only))
