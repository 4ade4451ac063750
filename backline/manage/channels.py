"""Channels: where the team hears of calls (Slack, webhooks, SMS, e-mail)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select

from backline.core import validation
from backline.manage.clients import resolve_client
from backline.manage.errors import InvalidValue, ManageError, NoSuchChannel, checked, field
from backline.notify.channels import ChannelSpec, describe
from backline.notify.channels import kinds as channel_kinds
from backline.notify.channels.kinds import KINDS, redacted
from backline.store.database import utc_now
from backline.store.schema import channels, clients, deliveries

__all__ = [
    "ChannelEntry",
    "add_channel",
    "check_target",
    "get_channel",
    "list_channels",
    "record_test",
    "remove_channel",
]


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    spec: ChannelSpec
    created_at: str
    failing_since: str | None
    last_success_at: str | None
    last_failure_at: str | None
    last_result: str | None
    pending: int
    # Messages given up (refused by the receiver, or failed too often), and the latest one.
    dead: int = 0
    last_dead_at: str | None = None
    last_dead_reason: str | None = None

    @property
    def status(self) -> str:
        """``failing`` (stopped until fixed), ``failed`` (the last try failed; it is tried
        again) or ``ok``."""
        if self.spec.failing:
            return "failing"
        if self.last_failure_at and (
            self.last_success_at is None or self.last_failure_at > self.last_success_at
        ):
            return "failed"
        return "ok"

    def to_json(self, *, reveal: bool = False) -> dict[str, Any]:
        """The entry for scripts; without ``reveal``, secrets are shown as the table shows them."""
        options = dict(self.spec.options)
        for key in _SECRET_OPTIONS & options.keys() if not reveal else ():
            options[key] = "…" + str(options[key])[-4:]
        return {
            "id": self.spec.id,
            "kind": self.spec.kind,
            "target": self.spec.target if reveal else redacted(self.spec),
            "name": self.spec.label,
            "client": self.spec.client,
            "options": options,
            "status": self.status,
            "failing": self.spec.failing,
            "failing_since": self.failing_since,
            "last_success_at": self.last_success_at,
            "last_failure_at": self.last_failure_at,
            "last_result": self.last_result,
            "pending": self.pending,
            "dead": self.dead,
            "last_dead_at": self.last_dead_at,
            "last_dead_reason": self.last_dead_reason,
            "created_at": self.created_at,
        }


# Options shown by their last four characters unless secrets are asked for.
_SECRET_OPTIONS = frozenset(
    option.key for kind in KINDS.values() for option in kind.options if option.secret
)


def _kinds_with(option: str) -> str:
    return " and ".join(kind.name for kind in KINDS.values() if kind.option(option) is not None)


def check_target(kind: str, target: str, *, allow_private: bool = False) -> str:
    """The channel's address, checked for its kind (the table of kinds says how); raises
    :class:`InvalidValue`.

    A URL to this machine, a link-local address or a cloud metadata service is refused unless
    ``allow_private`` (``BACKLINE_ALLOW_PRIVATE_CHANNELS=1``); see backline/core/addresses.py.
    """
    if kind not in KINDS:
        raise InvalidValue("kind", f"channel kind {kind!r} is not one of: {', '.join(KINDS)}")
    with field("target"):
        return channel_kinds.check_target(kind, target, allow_private=allow_private)


def _count(status: str) -> Any:
    return (
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.channel_id == channels.c.id, deliveries.c.status == status)
        .scalar_subquery()
    )


def _last_dead(column: Any) -> Any:
    return (
        select(column)
        .where(deliveries.c.channel_id == channels.c.id, deliveries.c.status == "dead")
        .order_by(deliveries.c.sent_at.desc(), deliveries.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _query() -> Any:
    return select(
        channels.c.id,
        channels.c.kind,
        channels.c.target,
        channels.c.label,
        clients.c.name,
        channels.c.options,
        channels.c.failing,
        channels.c.created_at,
        channels.c.failing_since,
        channels.c.last_success_at,
        channels.c.last_failure_at,
        channels.c.last_result,
        _count("pending"),
        _count("dead"),
        _last_dead(deliveries.c.sent_at),
        _last_dead(deliveries.c.error),
        channels.c.client_id,  # last: _refuse_duplicate reads it as row[-1]
    ).select_from(channels.outerjoin(clients, clients.c.id == channels.c.client_id))


def _entry(row: Any) -> ChannelEntry:
    try:
        options = json.loads(row[5] or "{}")
    except ValueError:
        options = {}
    spec = ChannelSpec(int(row[0]), row[1], row[2], row[3], row[4], options, row[6])
    return ChannelEntry(
        spec,
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        int(row[12] or 0),
        int(row[13] or 0),
        row[14],
        row[15],
    )


def add_channel(
    engine: Engine,
    kind: str,
    target: str,
    *,
    client: str | None = None,
    label: str | None = None,
    sender: str | None = None,
    secret: str | None = None,
    allow_private: bool = False,
) -> ChannelEntry:
    kind = kind.strip().lower()
    target = check_target(kind, target, allow_private=allow_private)
    row = KINDS[kind]
    options: dict[str, Any] = {}
    if sender:
        if row.option("from") is None:
            raise InvalidValue("sender", f"--from is only for {_kinds_with('from')} channels")
        options["from"] = checked(
            "sender", lambda value: validation.e164(value, what="sender number"), sender
        )
    if row.option("secret") is not None:
        options["secret"] = secret or secrets.token_hex(32)
    elif secret:
        raise InvalidValue("secret", f"--secret is only for {_kinds_with('secret')} channels")
    if label is not None:
        label = " ".join(label.split())[:200] or None
    with engine.begin() as connection:
        client_id = None
        if client is not None:
            try:
                client_id = resolve_client(connection, client)
            except ManageError as error:
                raise InvalidValue("client", str(error)) from None
        _refuse_duplicate(connection, kind, target, client_id)
        new_id = connection.execute(
            channels.insert()
            .values(
                kind=kind,
                target=target,
                label=label,
                client_id=client_id,
                options=json.dumps(options),
                created_at=utc_now(),
            )
            .returning(channels.c.id)
        ).scalar_one()
    return get_channel(engine, int(new_id))


def _same_target(kind: str, one: str, other: str) -> bool:
    if kind == "email":
        return one.casefold() == other.casefold()
    return one == other


def _refuse_duplicate(connection: Any, kind: str, target: str, client_id: int | None) -> None:
    """Refuse a second channel to the same place when both would carry the same call: every
    message would arrive twice. Two clients may share a receiver; a global channel and a
    client's channel to the same place may not."""
    rows = connection.execute(_query().where(channels.c.kind == kind).order_by(channels.c.id)).all()
    for row in rows:
        entry = _entry(row)
        existing_client_id = row[-1]
        if not _same_target(kind, entry.spec.target, target):
            continue
        if client_id is None or existing_client_id is None or existing_client_id == client_id:
            scope = f"for {entry.spec.client}'s calls" if entry.spec.client else "for every call"
            raise InvalidValue(
                "target",
                f"channel {describe(entry.spec)} already sends there {scope}: a second channel "
                "would deliver every message twice",
            )


def get_channel(engine: Engine, channel_id: int) -> ChannelEntry:
    with engine.connect() as connection:
        row = connection.execute(_query().where(channels.c.id == channel_id)).first()
    if row is None:
        raise NoSuchChannel(f"there is no channel #{channel_id}")
    return _entry(row)


def list_channels(engine: Engine) -> list[ChannelEntry]:
    with engine.connect() as connection:
        return [_entry(row) for row in connection.execute(_query().order_by(channels.c.id))]


def remove_channel(engine: Engine, channel_id: int) -> ChannelEntry:
    entry = get_channel(engine, channel_id)
    with engine.begin() as connection:
        connection.execute(delete(deliveries).where(deliveries.c.channel_id == channel_id))
        connection.execute(delete(channels).where(channels.c.id == channel_id))
    return entry


def record_test(engine: Engine, channel_id: int, *, ok: bool, result: str) -> None:
    """Keep a test's result (see :meth:`backline.notify.outbox.Outbox.record_check`)."""
    from backline.notify.outbox import Outbox
    from backline.store.database import Database

    outbox = Outbox(Database(engine.url.render_as_string(hide_password=False)))
    try:
        outbox.record_check(channel_id, ok=ok, result=result, now=utc_now())
    finally:
        outbox.close()
