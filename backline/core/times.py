"""The one timestamp format of backline's tables, events, journal and messages.

ISO-8601 UTC text with microseconds and a ``Z``: ``2026-11-24T05:03:07.123456Z``. Text of this
shape sorts as time does, which the tables' queries rely on. Pure: the clock is the caller's.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["FORMAT", "epoch", "iso", "parse"]

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


# The text of the whole second last formatted, (second, "YYYY-MM-DDTHH:MM:SS"): every answer
# stamps its record, and strftime costs more than the rest of the stamp many times over, while
# the calls of one second share their first nineteen characters.
_last_second: tuple[int, str] = (0, datetime.fromtimestamp(0, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
# Beyond these (year 2100 and before 1970) the general path formats every part itself.
_FAST_RANGE = (0.0, 4_102_444_800.0)


def iso(seconds: float) -> str:
    """``seconds`` since the epoch as the stored text.

    The same text as ``datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)`` (tests hold the
    two equal), microseconds rounded half to even as datetime rounds them.
    """
    global _last_second
    if not _FAST_RANGE[0] <= seconds < _FAST_RANGE[1]:
        return datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        second += 1
        micro -= 1_000_000
    cached_second, text = _last_second
    if second != cached_second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)
    return f"{text}.{micro:06d}Z"


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
