"""The global settings: one row each, for the table, the answer path and the CLI.

A setting is stored in the ``settings`` table under its key (``default_ring_timeout``), typed
by people with dashes (``default-ring-timeout``), and sets one field of
:class:`backline.core.models.Defaults` (``ring_timeout``). Its row says all of that, how a
typed value is checked into the stored text, and how the stored text is read back. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from backline.core import validation
from backline.core.models import WHEN_UNANSWERED, Defaults
from backline.core.validation import InvalidValue

__all__ = [
    "GLOBAL_SETTINGS",
    "GlobalSetting",
    "built_in_text",
    "defaults_from_settings",
    "global_setting",
]


def _on_off(value: str, what: str) -> str:
    cleaned = value.strip().lower()
    if cleaned in ("on", "yes", "true", "1"):
        return "on"
    if cleaned in ("off", "no", "false", "0"):
        return "off"
    raise InvalidValue(f"{what} {value!r} is not on or off")


def _text(value: str) -> object:
    return value


def _whole(value: str) -> object:
    return int(value)


def _flag(value: str) -> object:
    return value == "on"


def _when_unanswered(value: str) -> object:
    # An unknown value (written by a newer version) leaves the built-in default.
    return next((known for known in WHEN_UNANSWERED if known == value), None)


@dataclass(frozen=True, slots=True)
class GlobalSetting:
    """One global setting.

    ``key``: as stored; ``field``: the :class:`Defaults` field it sets; ``check``: a typed
    value to the stored text (raises :class:`InvalidValue`); ``read``: the stored text to the
    field's value (None leaves the built-in default); ``unit``: shown after the value;
    ``when_none``: what a built-in of None means, in words.
    """

    key: str
    field: str
    check: Callable[[str], str]
    read: Callable[[str], object] = _text
    unit: str = ""
    when_none: str = ""

    @property
    def name(self) -> str:
        """The setting as people type it and the CLI shows it: ``default-ring-timeout``."""
        return self.key.replace("_", "-")

    @property
    def flag(self) -> bool:
        return self.read is _flag


def _flag_setting(key: str, field: str) -> GlobalSetting:
    return GlobalSetting(key, field, lambda value: _on_off(value, key.replace("_", "-")), _flag)


GLOBAL_SETTINGS: tuple[GlobalSetting, ...] = (
    GlobalSetting("default_message", "message", validation.message),
    GlobalSetting("default_language", "language", validation.language),
    GlobalSetting("default_voice", "voice", validation.voice),
    GlobalSetting(
        "catch_all",
        "catch_all",
        validation.destination,
        when_none="none: unknown numbers hear the message",
    ),
    GlobalSetting(
        "default_ring_timeout",
        "ring_timeout",
        lambda value: str(validation.ring_timeout(value)),
        _whole,
        unit="s",
    ),
    GlobalSetting(
        "default_when_unanswered", "when_unanswered", validation.when_unanswered, _when_unanswered
    ),
    GlobalSetting(
        "voicemail_max_length",
        "voicemail_max_length",
        lambda value: str(validation.voicemail_max_length(value)),
        _whole,
        unit="s",
    ),
    _flag_setting("default_transcribe", "transcribe"),
    _flag_setting("default_screen", "screen"),
    GlobalSetting("default_timezone", "timezone", validation.time_zone),
    GlobalSetting("default_when_closed", "when_closed", validation.when_closed),
    _flag_setting("default_answer_on_bridge", "answer_on_bridge"),
    GlobalSetting("default_ring_tone", "ring_tone", validation.ring_tone, when_none="Twilio's: us"),
)

_BY_KEY: Mapping[str, GlobalSetting] = {row.key: row for row in GLOBAL_SETTINGS}
assert {row.field for row in GLOBAL_SETTINGS} == {item.name for item in fields(Defaults)}


def global_setting(name: str) -> GlobalSetting:
    """The setting a person typed (``catch-all`` or ``catch_all``); raises InvalidValue."""
    row = _BY_KEY.get(name.strip().lower().replace("-", "_"))
    if row is None:
        valid = ", ".join(row.name for row in GLOBAL_SETTINGS)
        raise InvalidValue(f"unknown setting {name!r}: the settings are {valid}")
    return row


def defaults_from_settings(values: Mapping[str, str]) -> Defaults:
    """The defaults the stored settings make (an empty or unreadable value leaves the
    built-in one)."""
    chosen: dict[str, Any] = {}
    for row in GLOBAL_SETTINGS:
        text = values.get(row.key)
        if text:
            value = row.read(text)
            if value is not None:
                chosen[row.field] = value
    return replace(Defaults(), **chosen)


def built_in_text(row: GlobalSetting) -> str | None:
    """The value a setting has when it is not set, as it would be stored."""
    value = getattr(Defaults(), row.field)
    if isinstance(value, bool):
        return "on" if value else "off"
    return None if value is None else str(value)
