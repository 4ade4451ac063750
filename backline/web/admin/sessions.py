"""Signed-in sessions of the web admin, kept in the database (so every worker process and the
separate `backline admin serve` agree): the cookie holds 256 random bits, the table only their
SHA-256 and the session's form token (CSRF)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select

from backline.manage.tokens import Access
from backline.store.database import utc_now
from backline.store.schema import admin_sessions

__all__ = ["LIFETIME", "Session", "end", "find", "start"]

LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    access: Access
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def start(engine: Engine, access: Access) -> tuple[str, Session]:
    """A new session for ``access``; returns the cookie's value and the session."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < _at(now)))
        connection.execute(
            insert(admin_sessions).values(
                id_hash=_hash(session_id),
                actor=access.actor,
                read_only=access.read_only,
                csrf=csrf,
                created_at=utc_now(),
                expires_at=_at(now + LIFETIME),
            )
        )
    return session_id, Session(access, csrf)


def find(engine: Engine, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 100:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(admin_sessions).where(
                admin_sessions.c.id_hash == _hash(session_id),
                admin_sessions.c.expires_at > _at(datetime.now(UTC)),
            )
        ).first()
    if row is None:
        return None
    return Session(Access(row.actor, bool(row.read_only)), row.csrf)


def end(engine: Engine, session_id: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(admin_sessions).where(admin_sessions.c.id_hash == _hash(session_id))
        )
