"""`backline settings ...` on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from backline.core.models import BUILT_IN_LANGUAGE, BUILT_IN_MESSAGE, Defaults
from tests.cli import answer_table, as_json, ok, refused

KEYS = [
    "default-message",
    "default-language",
    "default-voice",
    "catch-all",
    "default-ring-timeout",
    "default-when-unanswered",
    "voicemail-max-length",
    "default-transcribe",
    "default-screen",
    "default-timezone",
    "default-when-closed",
    "default-answer-on-bridge",
    "default-ring-tone",
]


def test_show_built_in_defaults(database_url: str) -> None:
    shown = as_json(database_url, "settings", "show")

    assert list(shown) == KEYS
    assert all(entry["built_in"] for entry in shown.values())
    assert shown["default-message"]["value"] == BUILT_IN_MESSAGE
    assert shown["default-language"]["value"] == BUILT_IN_LANGUAGE
    assert shown["catch-all"]["value"] is None
    assert shown["default-ring-timeout"]["value"] == 30
    assert shown["default-when-unanswered"]["value"] == "apology"
    assert shown["voicemail-max-length"]["value"] == 120
    assert shown["default-timezone"]["value"] == "Asia/Tokyo"
    assert shown["default-when-closed"]["value"] == "apology"
    assert shown["default-screen"]["value"] is False
    assert shown["default-ring-tone"]["value"] is None
    table = ok(database_url, "settings", "show")
    assert "catch-all" in table
    assert "built-in" in table


@pytest.mark.parametrize(
    ("key", "value", "stored", "field", "expected"),
    [
        ("default-message", " Sorry. ", "Sorry.", "message", "Sorry."),
        ("default-language", "en-us", "en-US", "language", "en-US"),
        (
            "default-voice",
            "Google.ja-JP-Neural2-B",
            "Google.ja-JP-Neural2-B",
            "voice",
            "Google.ja-JP-Neural2-B",
        ),
        (
            "catch-all",
            "03 1234 5678".replace("03", "+813"),
            "+81312345678",
            "catch_all",
            "+81312345678",
        ),
        (
            "catch-all",
            "sip:desk@pbx.example.com",
            "sip:desk@pbx.example.com",
            "catch_all",
            "sip:desk@pbx.example.com",
        ),
        ("default-ring-timeout", "45", "45 s", "ring_timeout", 45),
        ("default_ring_timeout", "45", "45 s", "ring_timeout", 45),
        ("default-when-unanswered", "Voicemail", "voicemail", "when_unanswered", "voicemail"),
        ("voicemail-max-length", "60", "60 s", "voicemail_max_length", 60),
        ("default-transcribe", "yes", "on", "transcribe", True),
        ("default-screen", "on", "on", "screen", True),
        ("default-screen", "off", "off", "screen", False),
        (
            "default-timezone",
            "america/new_york",
            "America/New_York",
            "timezone",
            "America/New_York",
        ),
        (
            "default-when-closed",
            "forward:+81 3-1234-5678",
            "forward:+81312345678",
            "when_closed",
            "forward:+81312345678",
        ),
        ("default-when-closed", "VOICEMAIL", "voicemail", "when_closed", "voicemail"),
        ("default-answer-on-bridge", "true", "on", "answer_on_bridge", True),
        ("default-ring-tone", "JP", "jp", "ring_tone", "jp"),
    ],
)
def test_set_reaches_the_answer_path(
    database_url: str, key: str, value: str, stored: str, field: str, expected: object
) -> None:
    out = ok(database_url, "settings", "set", key, value)

    assert out == f"{key.replace('_', '-')} is now {stored}\n"
    _, defaults = answer_table(database_url)
    assert getattr(defaults, field) == expected
    shown = as_json(database_url, "settings", "show")[key.replace("_", "-")]
    assert shown == {"value": expected, "built_in": False}


def test_set_twice_keeps_the_last_value(database_url: str) -> None:
    ok(database_url, "settings", "set", "default-language", "en-US")
    ok(database_url, "settings", "set", "default-language", "en-GB")

    assert answer_table(database_url)[1].language == "en-GB"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "colour",
            "blue",
            "default-message, default-language, default-voice, catch-all, default-ring-timeout",
        ),
        ("default-ring-timeout", "700", "5 to 600"),
        ("default-language", "Japanese", "ja-JP"),
        ("default-voice", "robot", "Twilio voice"),
        ("catch-all", "0312345678", "E.164"),
        ("default-message", "  ", "empty"),
        ("default-when-unanswered", "leave a message", "apology, voicemail"),
        ("voicemail-max-length", "4", "5 to 3600"),
        ("default-screen", "maybe", "is not on or off"),
        ("default-timezone", "Tokyo", "time zone 'Tokyo' is unknown"),
        ("default-when-closed", "forward:", "needs a number"),
        ("default-when-closed", "hang up", "apology, voicemail or forward:<number>"),
        ("default-ring-tone", "japan", "jp for Japan"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(
    database_url: str, key: str, value: str, message: str
) -> None:
    ok(database_url, "settings", "set", "default-ring-timeout", "20")
    before = as_json(database_url, "settings", "show")

    assert message in refused(database_url, "settings", "set", key, value)
    assert as_json(database_url, "settings", "show") == before


def test_unset_goes_back_to_the_built_in_default(database_url: str) -> None:
    ok(database_url, "settings", "set", "catch-all", "+81312345678")
    ok(database_url, "settings", "set", "default-ring-timeout", "50")

    assert ok(database_url, "settings", "unset", "catch-all") == (
        "unset catch-all: there is no catch-all\n"
    )
    assert ok(database_url, "settings", "unset", "default-ring-timeout") == (
        "unset default-ring-timeout: the built-in default 30 s applies\n"
    )
    assert "was not set" in ok(database_url, "settings", "unset", "catch-all")
    assert answer_table(database_url)[1] == Defaults()
    assert all(entry["built_in"] for entry in as_json(database_url, "settings", "show").values())


def test_unset_an_unknown_key(database_url: str) -> None:
    assert "unknown setting 'voice'" in refused(database_url, "settings", "unset", "voice")


def test_changing_the_default_language_shows_the_voice_that_will_speak_it(
    database_url: str,
) -> None:
    ok(database_url, "settings", "set", "default-language", "en-US")
    shown = as_json(database_url, "settings", "show")
    assert shown["default-voice"] == {"value": "Polly.Joanna", "built_in": True}
    error = refused(database_url, "settings", "set", "default-voice", "Polly.Mizuki")
    assert "cannot speak en-US" in error and "Polly.Joanna" in error
