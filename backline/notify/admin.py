"""Managing channels (the CLI side): SQLAlchemy, never imported by the answer path."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, delete, func, select

from backline.core import validation
from backline.core.validation import InvalidValue
from backline.notify.channels import KINDS, ChannelSpec
from backline.store.database import utc_now
from backline.store.schema import channels, clients, deliveries

__all__ = [
    "ChannelEntry",
    "NoSuchChannel",
    "add_channel",
    "check_target",
    "get_channel",
    "list_channels",
    "record_test",
    "remove_channel",
]


class NoSuchChannel(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    spec: ChannelSpec
    created_at: str
    failing_since: str | None
    last_success_at: str | None
    last_failure_at: str | None
    last_result: str | None
    pending: int

    def to_json(self, *, reveal: bool = False) -> dict[str, Any]:
        options = dict(self.spec.options)
        if "secret" in options and not reveal:
            options["secret"] = "…" + str(options["secret"])[-4:]
        return {
            "id": self.spec.id,
            "kind": self.spec.kind,
            "target": self.spec.target,
            "name": self.spec.label,
            "client": self.spec.client,
            "options": options,
            "failing": self.spec.failing,
            "failing_since": self.failing_since,
            "last_success_at": self.last_success_at,
            "last_failure_at": self.last_failure_at,
            "last_result": self.last_result,
            "pending": self.pending,
            "created_at": self.created_at,
        }


def check_target(kind: str, target: str) -> str:
    """The channel's address, checked for its kind; raises :class:`InvalidValue`."""
    if kind in ("slack", "webhook"):
        return validation.http_url(target, what=f"{kind} URL")
    if kind == "sms":
        return validation.e164(target, what="phone number")
    if kind == "email":
        cleaned = target.strip()
        _name, address = parseaddr(cleaned)
        local, _, domain = address.partition("@")
        if not local or "." not in domain or address != cleaned:
            raise InvalidValue(
                f"e-mail address {target!r} is not an address such as oncall@example.com"
            )
        return cleaned
    raise InvalidValue(f"channel kind {kind!r} is not one of: {', '.join(KINDS)}")


def _query() -> Any:
    pending = (
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.channel_id == channels.c.id, deliveries.c.status == "pending")
        .scalar_subquery()
    )
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
        pending,
    ).select_from(channels.outerjoin(clients, clients.c.id == channels.c.client_id))


def _entry(row: Any) -> ChannelEntry:
    try:
        options = json.loads(row[5] or "{}")
    except ValueError:
        options = {}
    spec = ChannelSpec(int(row[0]), row[1], row[2], row[3], row[4], options, row[6])
    return ChannelEntry(spec, row[7], row[8], row[9], row[10], row[11], int(row[12] or 0))


def add_channel(
    engine: Engine,
    kind: str,
    target: str,
    *,
    client: str | None = None,
    label: str | None = None,
    sender: str | None = None,
    secret: str | None = None,
) -> ChannelEntry:
    kind = kind.strip().lower()
    target = check_target(kind, target)
    options: dict[str, Any] = {}
    if sender:
        if kind != "sms":
            raise InvalidValue("--from is only for sms channels")
        options["from"] = validation.e164(sender, what="sender number")
    if kind == "webhook":
        options["secret"] = secret or secrets.token_hex(32)
    elif secret:
        raise InvalidValue("--secret is only for webhook channels")
    if label is not None:
        label = " ".join(label.split())[:200] or None
    with engine.begin() as connection:
        client_id = None
        if client is not None:
            client_id = connection.execute(
                select(clients.c.id).where(clients.c.name == " ".join(client.split()))
            ).scalar()
            if client_id is None:
                raise InvalidValue(f"there is no client named {client!r}")
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
    """Keep a test's result; a test that went through also puts a failing channel back."""
    now = utc_now()
    values: dict[str, Any] = {"last_result": result[:500]}
    if ok:
        values.update(
            last_success_at=now,
            failing=None,
            failing_since=None,
            state=json.dumps({}),
            next_send_at="",
        )
    else:
        values.update(last_failure_at=now)
    with engine.begin() as connection:
        connection.execute(channels.update().where(channels.c.id == channel_id).values(**values))
