"""The audit log: every change made through the REST API, the web admin or the command line.

A change and its entry are one transaction (:func:`changes`): if the entry cannot be written,
the change is not made either, so the log never misses a change.

Each entry says who (``token:ci``, ``user:hanako``, ``cli:ops``), from where (``api``, ``web``,
``cli``), what (``number.update``), on what (``+815031234567``), the values before and after
(``None`` for a creation or a removal), and when (UTC). Never imported by the answer path.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from backline.store.database import utc_now
from backline.store.schema import audit_log

__all__ = [
    "SOURCES",
    "AuditEntry",
    "Changes",
    "changes",
    "cli_actor",
    "differs",
    "list_entries",
    "record",
]

SOURCES = ("api", "web", "cli")
_MAX_LIMIT = 500
# When a row was made or last changed: not a change of its own.
_TIMES = ("created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    source: str
    action: str
    target: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "source": self.source,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """The fields that differ between before and after (for an update), in order."""
        before = self.before if isinstance(self.before, Mapping) else {}
        after = self.after if isinstance(self.after, Mapping) else {}
        keys = [key for key in dict.fromkeys([*before, *after]) if key not in _TIMES]
        return [
            (key, before.get(key), after.get(key))
            for key in keys
            if before.get(key) != after.get(key)
        ]


def differs(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a change changed anything (its time of change aside)."""
    return {k: v for k, v in before.items() if k not in _TIMES} != {
        k: v for k, v in after.items() if k not in _TIMES
    }


def cli_actor() -> str:
    """Who runs a command: the operating system's user name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def record(
    engine: Engine,
    *,
    actor: str,
    source: str,
    action: str,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> None:
    """Add one entry. Given the engine of :func:`changes`, in the change's own transaction."""
    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}")
    with engine.begin() as connection:
        connection.execute(
            insert(audit_log).values(
                at=utc_now(),
                actor=actor[:200],
                source=source,
                action=action[:64],
                target=target[:200],
                before=_dump(before),
                after=_dump(after),
            )
        )


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def list_entries(
    engine: Engine,
    *,
    limit: int = 50,
    before_id: int | None = None,
    target: str | None = None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first; ``before_id`` continues a page (the last id seen)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(limit, _MAX_LIMIT)))
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if target:
        query = query.where(audit_log.c.target == target)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            source=row.source,
            action=row.action,
            target=row.target,
            before=_load(row.before),
            after=_load(row.after),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Changes:
    """One transaction's changes and their audit entries: hand ``engine`` to the management
    functions, then :meth:`record` what they changed."""

    engine: Engine
    actor: str
    source: str

    def record(self, action: str, target: str = "", before: Any = None, after: Any = None) -> None:
        record(
            self.engine,
            actor=self.actor,
            source=self.source,
            action=action,
            target=target,
            before=before,
            after=after,
        )


@contextmanager
def changes(engine: Engine, *, actor: str, source: str) -> Iterator[Changes]:
    """One transaction for changes and their audit entries: all are written, or none.

    A failure to write an entry (or anything else raised inside) rolls the changes back; a
    database failure surfaces as :class:`~backline.manage.errors.DatabaseError`.
    """
    from backline.manage.engine import in_one_transaction, transaction

    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}")
    with transaction(engine) as connection:
        yield Changes(in_one_transaction(connection), actor, source)
