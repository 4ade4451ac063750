"""Open outages: the notification groups each channel is in the middle of (see
:mod:`backline.notify.grouping`), as the REST API and the web admin's dashboard show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from backline.notify.grouping import ChannelState
from backline.store.schema import channels, clients

__all__ = ["open_outages"]


def open_outages(engine: Engine) -> list[dict[str, Any]]:
    """One entry per channel whose outage has not closed yet, the oldest first."""
    query = (
        select(channels.c.id, channels.c.kind, channels.c.state, clients.c.name)
        .select_from(channels.outerjoin(clients, channels.c.client_id == clients.c.id))
        .order_by(channels.c.id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    found = []
    for channel_id, kind, state, client in rows:
        storm = ChannelState.from_json(state).outage
        if storm is None:
            continue
        found.append(
            {
                "channel": int(channel_id),
                "kind": str(kind),
                "client": client,
                "started_at": storm.started_at,
                "last_call_at": storm.last_call_at,
                "calls": storm.calls,
                "summarising": storm.summarising,
                "outcomes": dict(storm.outcomes),
                "lines": dict(storm.lines),
            }
        )
    return sorted(found, key=lambda outage: str(outage["started_at"]))
