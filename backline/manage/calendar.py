"""Public holidays, from the maintained ``holidays`` library, as plain closed dates.

The library is large (about 90 ms to import and more than 100 ms to compute a few years of one
country's holidays), so it is only ever used here, on the management side: when a number is
given ``--holidays JP``, the holidays of the coming years are expanded into dates and stored
with it. The answer path reads those dates; it never imports the library.
"""

from __future__ import annotations

from backline.core.validation import InvalidValue

__all__ = ["HOLIDAY_YEARS", "holiday_country", "holiday_dates"]

# The current year and the five after it; `backline numbers update N --holidays JP` (or
# `backline numbers refresh-holidays`) computes them again, with the library's newest data.
HOLIDAY_YEARS = 6


def _supported() -> dict[str, list[str]]:
    import holidays

    return {
        str(code): list(subdivisions)
        for code, subdivisions in holidays.list_supported_countries().items()
    }


def holiday_country(value: str) -> str:
    """A country code (``JP``), optionally with a subdivision (``US-CA``), that the library
    knows; the message lists what it would take instead."""
    cleaned = value.strip().upper()
    country, _, subdivision = cleaned.partition("-")
    supported = _supported()
    if country not in supported:
        raise InvalidValue(
            f"holidays {value!r}: no public holidays are known for that country; give a "
            f"two-letter country code such as JP, US or GB"
        )
    if subdivision:
        known = {name.upper(): name for name in supported[country]}
        if subdivision not in known:
            listed = ", ".join(f"{country}-{name}" for name in supported[country][:12])
            more = " ..." if len(supported[country]) > 12 else ""
            hint = f": use one of {listed}{more}" if listed else f": {country} has none"
            raise InvalidValue(f"holidays {value!r}: unknown subdivision{hint}")
        return f"{country}-{known[subdivision]}"
    return country


def holiday_dates(code: str, first_year: int, years: int = HOLIDAY_YEARS) -> list[str]:
    """The public holidays of ``code`` (as :func:`holiday_country` gives it) in ``years``
    years from ``first_year``, as sorted YYYY-MM-DD dates."""
    import holidays

    country, _, subdivision = code.partition("-")
    calendar = holidays.country_holidays(
        country, subdiv=subdivision or None, years=range(first_year, first_year + years)
    )
    return sorted(day.isoformat() for day in calendar)
