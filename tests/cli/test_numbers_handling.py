"""`backline numbers add/update` with voicemail, screening, office hours and ringing options,
on SQLite and PostgreSQL: what is stored is what the answer path reads."""

from __future__ import annotations

import json
from datetime import date

import pytest

from backline.core.hours import Schedule, windows_of
from backline.manage.engine import make_engine
from backline.manage.numbers import refresh_holidays
from tests.cli import answer_table, as_json, invoke, ok, refused
from tests.cli.test_numbers import shown_fields

NUMBER = "+815012345678"
DEST = "+81312345678"
SIP = "sip:desk@pbx.example.com"


def test_add_with_every_handling_option(database_url: str) -> None:
    out = ok(
        database_url,
        "numbers", "add", NUMBER, "-f", DEST, "--mode", "sequential",
        "--when-unanswered", "Voicemail",
        "--voicemail-max-length", "90",
        "--transcribe",
        "--screen",
        "--no-answer-on-bridge",
        "--ring-tone", "JP",
        "--hours", "Mon-Fri 9:00-18:00",
        "--hours", "sat 09:00-12:00",
        "--timezone", "asia/tokyo",
        "--closed-on", "2026-12-31",
        "--closed-on", "2026-12-30",
        "--when-closed", "forward:+81 90-5555-6666",
        "--closed-message", "Closed for today.",
    )  # fmt: skip
    assert out.startswith(f"added {NUMBER} -> {DEST} (sequential, 30 s, voicemail, screened, ")

    (route,) = answer_table(database_url)[0].values()
    assert route.when_unanswered == "voicemail"
    assert (route.voicemail_max_length, route.transcribe) == (90, True)
    assert (route.screen, route.answer_on_bridge, route.ring_tone) == (True, False, "jp")
    assert route.schedule == Schedule(
        "Asia/Tokyo",
        windows_of(["mon-fri 09:00-18:00", "sat 09:00-12:00"]),
        ("2026-12-30", "2026-12-31"),
    )
    assert route.when_closed == "forward:+819055556666"
    assert route.closed_message == "Closed for today."
    shown = as_json(database_url, "numbers", "show", NUMBER)
    assert shown["hours"] == ["mon-fri 09:00-18:00", "sat 09:00-12:00"]
    assert shown["closed_on"] == ["2026-12-30", "2026-12-31"]


def test_a_number_without_its_own_settings_follows_the_global_ones(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--hours", "mon-fri 09:00-18:00")
    ok(database_url, "settings", "set", "default-timezone", "Europe/London")
    (route,) = answer_table(database_url)[0].values()
    assert route.when_unanswered is None and route.screen is None
    assert route.schedule is not None and route.schedule.zone == "Europe/London"
    shown = shown_fields(ok(database_url, "numbers", "show", NUMBER))
    assert shown["time zone"] == "Europe/London (default)"
    assert shown["when closed"] == "apology (default)"
    assert shown["screen"] == "off (default)"
    assert shown["now"] in ("open", "closed (calls get the closed treatment)")


def test_update_changes_and_resets_the_handling(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        NUMBER,
        "-f",
        DEST,
        "--screen",
        "--hours",
        "daily 08:00-20:00",
    )
    out = ok(
        database_url, "numbers", "update", NUMBER,
        "--when-unanswered", "voicemail", "--hours", "mon-fri 09:00-17:00", "--reset", "screen",
    )  # fmt: skip
    assert "when unanswered: (default) -> voicemail" in out
    assert "hours:" in out and "daily 08:00-20:00 -> mon-fri 09:00-17:00" in out
    assert "screen:" in out and "on -> (default)" in out
    (route,) = answer_table(database_url)[0].values()
    assert route.screen is None and route.when_unanswered == "voicemail"
    ok(database_url, "numbers", "update", NUMBER, "--reset", "hours", "--reset", "when-unanswered")
    (route,) = answer_table(database_url)[0].values()
    assert route.schedule is None and route.when_unanswered is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--hours", "9-18"), "need days and times"),
        (("--hours", "mon-fri 18:00-09:00"), "a night shift is two specs"),
        (("--timezone", "Tokyo"), "time zone 'Tokyo' is unknown"),
        (("--closed-on", "2026-02-30"), "is not a date"),
        (("--holidays", "XX"), "no public holidays are known"),
        (("--when-closed", "hangup"), "apology, voicemail or forward:<number>"),
        (("--when-closed", f"forward:{NUMBER}"), "cannot forward to itself"),
        (("--when-unanswered", "voicemail please"), "apology, voicemail"),
        (("--ring-tone", "japan"), "jp for Japan"),
        (("--voicemail-max-length", "7200"), "5 to 3600"),
        (("--reset", "forward-to"), "the fields that can be reset are"),
        (("--screen", "--reset", "screen"), "give --screen or --reset screen, not both"),
    ],
)
def test_bad_handling_is_refused_and_changes_nothing(
    database_url: str, args: tuple[str, ...], says: str
) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST)
    before = as_json(database_url, "numbers", "show", NUMBER)
    assert says in refused(database_url, "numbers", "update", NUMBER, *args)
    assert as_json(database_url, "numbers", "show", NUMBER) == before
    if "--reset" in args:
        return  # (update only)
    # And a number added with it is not added at all.
    other = "+815012345679"
    same = tuple(arg.replace(NUMBER, other) for arg in args)
    assert says in refused(database_url, "numbers", "add", other, "-f", DEST, *same)
    assert "is not in the table" in refused(database_url, "numbers", "show", other)


def test_holidays_are_stored_as_dates_the_answer_path_reads(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--holidays", "jp")
    shown = as_json(database_url, "numbers", "show", NUMBER)
    assert shown["holidays"] == "JP"
    (route,) = answer_table(database_url)[0].values()
    assert route.schedule is not None and route.schedule.windows == ()
    closed = route.schedule.closed
    this_year = date.today().year
    # New Year's Day of this year and five more: the library's data, not a list of ours.
    assert {f"{year}-01-01" for year in range(this_year, this_year + 6)} <= set(closed)
    assert shown["holidays_through"] == closed[-1] and closed[-1].startswith(str(this_year + 5))
    # A closed day of the number's own joins the holidays.
    ok(database_url, "numbers", "update", NUMBER, "--closed-on", "2031-12-30")
    (route,) = answer_table(database_url)[0].values()
    assert route.schedule is not None and "2031-12-30" in route.schedule.closed


def test_refresh_holidays_expands_them_again_from_a_later_year(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--holidays", "JP")
    engine = make_engine(database_url)
    try:
        ((number, country, last),) = refresh_holidays(engine, today=date(2040, 5, 1))
    finally:
        engine.dispose()
    assert (number, country) == (NUMBER, "JP") and last.startswith("2045-")
    (route,) = answer_table(database_url)[0].values()
    assert route.schedule is not None and route.schedule.closed[0].startswith("2040-01-01")
    out = ok(database_url, "numbers", "refresh-holidays")
    assert out.startswith(f"{NUMBER}: JP holidays through ")


def test_the_operator_is_told_what_will_not_happen(database_url: str) -> None:
    result = invoke(
        database_url, "numbers", "add", NUMBER, "-f", SIP, "--screen", "--when-closed",
        "voicemail", "--transcribe", "--voicemail-max-length", "300",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "--when-closed applies only outside the number's hours" in result.stderr
    assert "at most 120 s" in result.stderr
    assert "American English (en-US) only; in the default language" in result.stderr
    english = invoke(database_url, "numbers", "add", "+815012345679", "-f", DEST, "--transcribe",
                     "--language", "en-US")  # fmt: skip
    assert english.exit_code == 0 and "American English" not in english.stderr
    assert "sip: destinations are not screened" in result.stderr


def test_the_handling_reaches_json_and_survives_a_round_trip(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--when-closed", "apology",
       "--closed-on", "2026-12-31")  # fmt: skip
    shown = as_json(database_url, "numbers", "list")[0]
    assert shown["when_closed"] == "apology" and shown["closed_on"] == ["2026-12-31"]
    assert json.loads(json.dumps(shown)) == shown
