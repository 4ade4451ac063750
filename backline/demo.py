"""Demo data for `backline demo`: a few numbers that show each kind of forwarding."""

from __future__ import annotations

from backline.manage.engine import open_database
from backline.manage.numbers import add_number, list_numbers

__all__ = ["DEMO_NUMBERS", "seed"]

# (Twilio number, client, destinations, mode, message, language, voice)
DEMO_NUMBERS: tuple[
    tuple[str, str, tuple[str, ...], str, str | None, str | None, str | None], ...
] = (
    ("+815031234567", "Sakura Dental", ("+81312345678", "+819011112222"), "sequential",
     None, None, None),
    ("+815031234568", "Hikari Realty", ("+81662345678", "+81662345679"), "simultaneous",
     None, None, None),
    ("+14155550100", "Golden Gate Plumbing", ("+14155550111",), "simultaneous",
     "Sorry, we could not connect your call. Please try again in a few minutes.", "en-US",
     "Polly.Joanna"),
)  # fmt: skip


def seed(database_url: str) -> bool:
    """Add the demo numbers to an empty table; returns False when numbers already exist."""
    engine = open_database(database_url)
    if list_numbers(engine):
        return False
    for number, client, destinations, mode, message, language, voice in DEMO_NUMBERS:
        add_number(
            engine,
            number,
            destinations,
            client=client,
            new_client=True,
            mode=mode,
            ring_timeout=20,
            message=message,
            language=language,
            voice=voice,
        )
    return True
