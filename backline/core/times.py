"""The one timestamp format of backline's tables, events, journal and messages.

ISO-8601 UTC text with microseconds and a ``Z``: ``2026-11-24T05:03:07.123456Z``. Text of this
shape sorts as time does, which the tables' queries rely on. Pure: the clock is the caller's.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["FORMAT", "epoch", "iso", "parse"]

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(seconds: float) -> str:
    """``seconds`` since the epoch as the stored text."""
    return datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)


def parse(at: str) -> datetime | None:
    """A stored (or any ISO-8601) time as an aware datetime, UTC when it names no zone; None
    for text that is not a time."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch(at: str) -> float | None:
    """Seconds since the epoch for an ISO-8601 time; None for text that is not a time."""
    moment = parse(at)
    return None if moment is None else moment.timestamp()
