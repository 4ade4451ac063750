"""Office hours and closed days, as data. Pure: "now" is always passed in, never read.

A number's hours are one or more specs such as ``mon-fri 09:00-18:00`` or
``sat 09:00-12:00``, read in the number's time zone (wall-clock time, so daylight saving time
moves with the clock on the wall). A window includes its start minute and excludes its end:
``09:00-18:00`` is open at 09:00:00 and closed at 18:00:00. Closed days (``2026-12-31``, and
the public holidays a management command expanded into dates) are closed all day, whatever the
hours say. A number with closed days but no hours is open all day on every other day.

The answer path only ever asks :func:`is_open`; parsing and the ``holidays`` library belong to
the management side, which stores plain dates.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from backline.core.validation import InvalidValue

__all__ = [
    "DAY_NAMES",
    "Schedule",
    "Window",
    "closed_date",
    "hours_spec",
    "is_open",
    "parse_hours",
    "windows_of",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EVERY_DAY = 0b111_1111
# Words people type for sets of days, beside day names and ranges of them.
_DAY_WORDS = {"daily": _EVERY_DAY, "weekdays": 0b001_1111, "weekends": 0b110_0000}
_TIME = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EXAMPLE = "for example 'mon-fri 09:00-18:00' or 'sat 09:00-12:00'"


@dataclass(frozen=True, slots=True)
class Window:
    """Open on the days in ``days`` (bit 0 = Monday) from ``start`` to ``end`` minutes."""

    days: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a number is open: its windows in ``zone``, except on ``closed`` dates (sorted ISO
    dates). No windows means open all day on every day that is not closed."""

    zone: str
    windows: tuple[Window, ...] = ()
    closed: tuple[str, ...] = ()


_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(word: str, spec: str) -> int:
    if word in DAY_NAMES:
        return DAY_NAMES.index(word)
    if word in _FULL_NAMES:
        return _FULL_NAMES.index(word)
    raise InvalidValue(
        f"hours {spec!r}: {word!r} is not a day; use mon, tue, wed, thu, fri, sat, sun, "
        f"a range such as mon-fri, or daily ({_EXAMPLE})"
    )


def _days(text: str, spec: str) -> int:
    mask = 0
    for part in text.split(","):
        part = part.strip()
        if part in _DAY_WORDS:
            mask |= _DAY_WORDS[part]
            continue
        first, dash, last = part.partition("-")
        start = _day(first.strip(), spec)
        end = _day(last.strip(), spec) if dash else start
        day = start
        while True:  # a range may wrap past Sunday: fri-mon
            mask |= 1 << day
            if day == end:
                break
            day = (day + 1) % 7
    return mask


def _minute(text: str, spec: str) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise InvalidValue(f"hours {spec!r}: {text.strip()!r} is not a time such as 09:00")
    minute = int(match.group(1)) * 60 + int(match.group(2))
    if minute > 24 * 60:
        raise InvalidValue(f"hours {spec!r}: {text.strip()!r} is past 24:00")
    return minute


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day_text(mask: int) -> str:
    """The shortest spelling of a set of days: daily, mon-fri, sat, mon,wed,fri."""
    if mask == _EVERY_DAY:
        return "daily"
    runs: list[tuple[int, int]] = []
    for day in range(7):
        if mask & (1 << day):
            if runs and runs[-1][1] == day - 1:
                runs[-1] = (runs[-1][0], day)
            else:
                runs.append((day, day))
    return ",".join(DAY_NAMES[a] if a == b else f"{DAY_NAMES[a]}-{DAY_NAMES[b]}" for a, b in runs)


def parse_hours(spec: str) -> tuple[Window, ...]:
    """``mon-fri 09:00-12:00,13:00-18:00`` -> its windows; :class:`InvalidValue` says what is
    wrong. A window that would pass midnight is refused with the two specs that mean it."""
    text = " ".join(spec.strip().lower().split())
    days_text, _space, times_text = text.rpartition(" ")
    if not days_text or not times_text:
        raise InvalidValue(f"hours {spec!r} need days and times, {_EXAMPLE}")
    days = _days(days_text.replace(" ", ""), spec)
    windows: list[Window] = []
    for piece in times_text.split(","):
        start_text, dash, end_text = piece.partition("-")
        if not dash:
            raise InvalidValue(f"hours {spec!r}: {piece!r} is not a range such as 09:00-18:00")
        start, end = _minute(start_text, spec), _minute(end_text, spec)
        if start == 24 * 60:
            raise InvalidValue(f"hours {spec!r}: a window cannot start at 24:00")
        if end <= start:
            raise InvalidValue(
                f"hours {spec!r}: {_clock(start)}-{_clock(end)} ends before it starts; a night "
                f"shift is two specs, such as 'fri {_clock(start)}-24:00' and "
                f"'sat 00:00-{_clock(end)}'"
            )
        windows.append(Window(days, start, end))
    return tuple(windows)


def hours_spec(spec: str) -> str:
    """The stored spelling of a spec: checked, lower case, days and times normalised."""
    windows = parse_hours(spec)
    times = ",".join(f"{_clock(w.start)}-{_clock(w.end)}" for w in windows)
    return f"{_day_text(windows[0].days)} {times}"


def windows_of(specs: tuple[str, ...] | list[str]) -> tuple[Window, ...]:
    """Every window of several specs (each already checked when it was stored)."""
    return tuple(window for spec in specs for window in parse_hours(spec))


def closed_date(value: str) -> str:
    """A closed day as YYYY-MM-DD (a real date of the calendar)."""
    cleaned = value.strip()
    if _DATE.fullmatch(cleaned):
        try:
            return date.fromisoformat(cleaned).isoformat()
        except ValueError:
            pass
    raise InvalidValue(f"closed day {value!r} is not a date such as 2026-12-31 (YYYY-MM-DD)")


_ZONES: dict[str, tzinfo | None] = {}


def _zone(name: str) -> tzinfo | None:
    if name not in _ZONES:
        # zoneinfo reads the zone's file once; it is imported here, so a route without hours
        # costs the answer path nothing.
        from zoneinfo import ZoneInfo

        zone: tzinfo | None
        try:
            zone = ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # not found (a KeyError), a bad key, no file
            zone = None
        _ZONES[name] = zone
    return _ZONES[name]


def is_open(schedule: Schedule | None, now: float) -> bool:
    """Whether a number with ``schedule`` is open at ``now`` (seconds since the epoch).

    No schedule: always open. A zone that cannot be read (a table edited by hand) counts as
    open too: forwarding a call that should have been closed is the lesser harm for a fallback.
    """
    if schedule is None:
        return True
    zone = _zone(schedule.zone)
    if zone is None:
        return True
    local = datetime.fromtimestamp(now, zone)
    closed = schedule.closed
    if closed:
        day = local.date().isoformat()
        at = bisect.bisect_left(closed, day)
        if at < len(closed) and closed[at] == day:
            return False
    if not schedule.windows:
        return True
    bit = 1 << local.weekday()
    minute = local.hour * 60 + local.minute
    return any(w.days & bit and w.start <= minute < w.end for w in schedule.windows)
