"""The global settings are one table (backline/core/settings.py)."""

from __future__ import annotations

import pytest

from backline.core.models import Defaults
from backline.core.settings import (
    GLOBAL_SETTINGS,
    built_in_text,
    defaults_from_settings,
    global_setting,
)
from backline.core.validation import InvalidValue


def test_the_built_in_values_are_the_defaults_the_answer_path_uses() -> None:
    assert {row.key: built_in_text(row) for row in GLOBAL_SETTINGS}["default_screen"] == "off"
    assert built_in_text(global_setting("catch-all")) is None
    assert built_in_text(global_setting("default-ring-timeout")) == str(Defaults().ring_timeout)


def test_nothing_stored_gives_the_built_in_defaults() -> None:
    assert defaults_from_settings({}) == Defaults()
    assert defaults_from_settings({"default_when_unanswered": "later"}) == Defaults()


def test_each_setting_read_back_sets_its_field() -> None:
    stored = {
        "default_ring_timeout": "45",
        "default_screen": "on",
        "catch_all": "+81311112222",
        "default_when_unanswered": "voicemail",
    }
    defaults = defaults_from_settings(stored)
    assert (defaults.ring_timeout, defaults.screen, defaults.catch_all) == (
        45,
        True,
        "+81311112222",
    )
    assert defaults.when_unanswered == "voicemail"


def test_a_setting_is_found_as_people_type_it_and_checked_by_its_row() -> None:
    row = global_setting(" Default-Ring-Timeout ")
    assert row.key == "default_ring_timeout" and row.name == "default-ring-timeout"
    assert row.check("40") == "40"
    assert global_setting("default-screen").check("yes") == "on"
    with pytest.raises(InvalidValue, match="the settings are default-message, "):
        global_setting("ring")
    with pytest.raises(InvalidValue, match="is not on or off"):
        global_setting("default_screen").check("maybe")
