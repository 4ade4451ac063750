"""The stored time format: the fast stamp is held equal to datetime's own formatting."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from backline.core.times import FORMAT, epoch, iso


def reference(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(FORMAT)


@given(st.floats(min_value=0, max_value=4_200_000_000, allow_nan=False))
@example(1_700_000_000.9999995)  # rounds up into the next second
@example(1_700_000_000.0000005)
@example(4_102_444_799.9999999)  # the last instant of the fast range, rounded past it
@example(0.0)
def test_iso_is_datetimes_text(seconds: float) -> None:
    assert iso(seconds) == reference(seconds)


def test_iso_of_seconds_out_of_order() -> None:
    # The one remembered second must not leak into another's text.
    stamps = [1_800_000_001.25, 1_800_000_000.5, 1_800_000_001.75, 1_000.0]
    assert [iso(s) for s in stamps] == [reference(s) for s in stamps]


def test_iso_round_trips_through_epoch() -> None:
    assert epoch(iso(1_764_000_000.123456)) == 1_764_000_000.123456
