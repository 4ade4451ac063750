"""Office hours and closed days: parsing as people type them, and open or closed at a given
moment, on both sides of every boundary and in more than one time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.hours import (
    DAY_NAMES,
    Schedule,
    Window,
    closed_date,
    hours_spec,
    is_open,
    parse_hours,
    windows_of,
)
from backline.core.validation import InvalidValue

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = windows_of(["mon-fri 09:00-18:00", "sat 09:00-12:00"])


def at(text: str, zone: ZoneInfo = TOKYO) -> float:
    """Seconds since the epoch of a wall-clock time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("mon-fri 09:00-18:00", "mon-fri 09:00-18:00"),
        ("  Mon-Fri   9:00-18:00 ", "mon-fri 09:00-18:00"),
        ("monday-friday 09:00-18:00", "mon-fri 09:00-18:00"),
        ("sat 09:00-12:00", "sat 09:00-12:00"),
        ("mon,wed,fri 10:00-16:00", "mon,wed,fri 10:00-16:00"),
        ("fri-mon 10:00-11:00", "mon,fri-sun 10:00-11:00"),
        ("daily 00:00-24:00", "daily 00:00-24:00"),
        ("weekdays 09:00-12:00,13:00-18:00", "mon-fri 09:00-12:00,13:00-18:00"),
        ("weekends 10:00-15:00", "sat-sun 10:00-15:00"),
        ("sun-sat 08:00-09:00", "daily 08:00-09:00"),
    ],
)
def test_hours_are_stored_in_one_spelling(typed: str, stored: str) -> None:
    assert hours_spec(typed) == stored
    assert hours_spec(stored) == stored  # stable


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("09:00-18:00", "need days and times"),
        ("mon-fri", "need days and times"),
        ("mo-fr 09:00-18:00", "'mo' is not a day"),
        ("mon-fri 9-18", "'9' is not a time"),
        ("mon-fri 09:00", "is not a range"),
        ("mon-fri 25:00-26:00", "is not a time"),
        ("mon-fri 09:60-18:00", "is not a time"),
        ("mon-fri 24:30-24:40", "is past 24:00"),
        ("mon-fri 18:00-09:00", "a night shift is two specs"),
        ("mon-fri 09:00-09:00", "ends before it starts"),
        ("mon-fri 24:00-24:00", "cannot start at 24:00"),
    ],
)
def test_malformed_hours_are_refused_saying_why(typed: str, says: str) -> None:
    with pytest.raises(InvalidValue, match=says):
        parse_hours(typed)


def test_a_night_shift_is_refused_with_the_two_specs_that_mean_it() -> None:
    with pytest.raises(InvalidValue) as refused:
        parse_hours("fri 22:00-02:00")
    assert "'fri 22:00-24:00' and 'sat 00:00-02:00'" in str(refused.value)
    windows = windows_of(["fri 22:00-24:00", "sat 00:00-02:00"])
    night = Schedule("Asia/Tokyo", windows)
    # 2026-11-27 is a Friday.
    assert is_open(night, at("2026-11-27T23:59:59"))
    assert is_open(night, at("2026-11-28T01:59:59"))
    assert not is_open(night, at("2026-11-28T02:00:00"))
    assert not is_open(night, at("2026-11-27T21:59:59"))


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        # Tuesday 2026-11-24 in Tokyo: both sides of the morning and evening boundaries.
        ("2026-11-24T08:59:59", False),
        ("2026-11-24T09:00:00", True),
        ("2026-11-24T17:59:59", True),
        ("2026-11-24T18:00:00", False),
        # Saturday morning only; Sunday closed all day.
        ("2026-11-28T11:59:59", True),
        ("2026-11-28T12:00:00", False),
        ("2026-11-29T10:00:00", False),
        # Midnight belongs to the new day.
        ("2026-11-23T23:59:59", False),
        ("2026-11-24T00:00:00", False),
    ],
)
def test_open_on_both_sides_of_each_boundary(moment: str, open_: bool) -> None:
    assert is_open(Schedule("Asia/Tokyo", OFFICE), at(moment)) is open_


def test_the_same_moment_is_open_in_one_zone_and_closed_in_another() -> None:
    # 10:00 in Tokyo on a Tuesday is 20:00 on Monday in New York.
    moment = at("2026-11-24T10:00:00")
    assert is_open(Schedule("Asia/Tokyo", OFFICE), moment)
    assert not is_open(Schedule("America/New_York", OFFICE), moment)
    # And 09:00 on Monday in New York is 23:00 in Tokyo, after Tokyo's closing time.
    moment = at("2026-11-23T09:00:00", NEW_YORK)
    assert is_open(Schedule("America/New_York", OFFICE), moment)
    assert not is_open(Schedule("Asia/Tokyo", OFFICE), moment)


def test_hours_follow_the_wall_clock_across_daylight_saving_time() -> None:
    # New York moves its clocks forward on 2027-03-14 (a Sunday): 09:00 on the Monday before
    # and the Monday after are an hour apart in UTC, and both are opening time.
    office = Schedule("America/New_York", OFFICE)
    for day in ("2027-03-08", "2027-03-15"):
        assert not is_open(office, at(f"{day}T08:59:59", NEW_YORK))
        assert is_open(office, at(f"{day}T09:00:00", NEW_YORK))


def test_a_closed_day_is_closed_all_day_in_the_numbers_zone() -> None:
    office = Schedule("Asia/Tokyo", OFFICE, ("2026-12-29", "2026-12-31"))
    assert not is_open(office, at("2026-12-31T10:00:00"))
    assert not is_open(office, at("2026-12-29T09:00:00"))
    assert is_open(office, at("2026-12-30T10:00:00"))
    # 2026-12-31 10:00 in Tokyo is still 2026-12-30 in New York: open there.
    new_york = Schedule("America/New_York", (), ("2026-12-31",))
    assert is_open(new_york, at("2026-12-31T10:00:00"))
    assert not is_open(new_york, at("2026-12-31T10:00:00", NEW_YORK))


def test_closed_days_without_hours_close_only_those_days() -> None:
    holidays_only = Schedule("Asia/Tokyo", (), ("2027-01-01",))
    assert is_open(holidays_only, at("2026-12-31T23:59:59"))
    assert not is_open(holidays_only, at("2027-01-01T00:00:00"))
    assert not is_open(holidays_only, at("2027-01-01T23:59:59"))
    assert is_open(holidays_only, at("2027-01-02T00:00:00"))


def test_no_schedule_and_an_unreadable_zone_are_open() -> None:
    assert is_open(None, 0.0)
    assert is_open(Schedule("Mars/Olympus_Mons", OFFICE), at("2026-11-29T03:00:00"))
    assert is_open(Schedule("../../etc/passwd", OFFICE), at("2026-11-29T03:00:00"))


@pytest.mark.parametrize("typed", ["2026-12-31", " 2026-02-28 "])
def test_closed_dates_are_real_dates(typed: str) -> None:
    assert closed_date(typed) == typed.strip()


@pytest.mark.parametrize("typed", ["2026-02-30", "2026/12/31", "31-12-2026", "tomorrow", ""])
def test_impossible_closed_dates_are_refused(typed: str) -> None:
    with pytest.raises(InvalidValue, match="is not a date"):
        closed_date(typed)


@given(
    days=st.integers(min_value=1, max_value=127),
    start=st.integers(min_value=0, max_value=24 * 60 - 1),
    length=st.integers(min_value=1, max_value=24 * 60),
    moment=st.floats(min_value=0, max_value=4e9),
)
def test_any_window_matches_a_direct_reading_of_the_clock(
    days: int, start: int, length: int, moment: float
) -> None:
    end = min(start + length, 24 * 60)
    window = Window(days, start, end)
    local = datetime.fromtimestamp(moment, TOKYO)
    minute = local.hour * 60 + local.minute
    expected = bool(days & (1 << local.weekday())) and start <= minute < end
    assert is_open(Schedule("Asia/Tokyo", (window,)), moment) is expected
    # What is stored reads back as the same window.
    named = ",".join(day for i, day in enumerate(DAY_NAMES) if days >> i & 1)
    spec = hours_spec(f"{named} {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
    assert parse_hours(spec) == (window,)
