"""Demo data for `backline demo`: a few numbers that show each kind of forwarding."""

from __future__ import annotations

import json

from sqlalchemy import func, insert, select

from backline.store.admin import make_engine
from backline.store.database import utc_now
from backline.store.schema import clients, numbers

__all__ = ["DEMO_NUMBERS", "seed"]

# (Twilio number, client, destinations, mode, message, language, voice)
DEMO_NUMBERS = (
    (
        "+815031234567",
        "Sakura Dental",
        ("+81312345678", "+819011112222"),
        "sequential",
        None,
        None,
        None,
    ),
    (
        "+815031234568",
        "Hikari Realty",
        ("+81662345678", "+81662345679"),
        "simultaneous",
        None,
        None,
        None,
    ),
    (
        "+14155550100",
        "Golden Gate Plumbing",
        ("+14155550111",),
        "simultaneous",
        "Sorry, we could not connect your call. Please try again in a few minutes.",
        "en-US",
        "Polly.Joanna",
    ),
)


def seed(database_url: str) -> bool:
    """Add the demo numbers to an empty table; returns False when numbers already exist."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(numbers)).scalar_one():
            return False
        now = utc_now()
        for number, client, destinations, mode, message, language, voice in DEMO_NUMBERS:
            client_id = connection.execute(
                insert(clients).values(name=client, created_at=now).returning(clients.c.id)
            ).scalar_one()
            connection.execute(
                insert(numbers).values(
                    number=number,
                    client_id=client_id,
                    destinations=json.dumps(destinations),
                    mode=mode,
                    ring_timeout=20,
                    caller_id="twilio-number",
                    message=message,
                    language=language,
                    voice=voice,
                    enabled=True,
                    created_at=now,
                    updated_at=now,
                )
            )
    return True
