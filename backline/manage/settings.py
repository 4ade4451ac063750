"""The global settings: the defaults every number without its own value follows."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, select

from backline.core import validation
from backline.core.models import Defaults
from backline.core.settings import GLOBAL_SETTINGS, built_in_text, global_setting
from backline.manage.engine import reading, transaction
from backline.manage.errors import InvalidValue, field
from backline.store.schema import settings

__all__ = [
    "SETTING_KEYS",
    "built_in_settings",
    "get_settings",
    "set_setting",
    "setting_key",
    "setting_value",
    "unset_setting",
]

# The settings, their checks and their built-in values are the rows of GLOBAL_SETTINGS
# (backline/core/settings.py). Users may type the keys with dashes ("default-ring-timeout");
# they are stored with underscores, as the answer path reads them.
SETTING_KEYS: tuple[str, ...] = tuple(row.key for row in GLOBAL_SETTINGS)


def setting_key(name: str) -> str:
    """The stored key for a setting as a person types it (``catch-all`` -> ``catch_all``)."""
    with field("key"):
        return global_setting(name).key


def setting_value(key: str, value: str) -> str:
    """Check ``value`` for the stored ``key``; return the text to store."""
    row = global_setting(setting_key(key))
    with field("value"):
        return row.check(value)


def flag(value: str | bool, *, what: str) -> bool:
    """on/off, yes/no, true/false, 1/0 -> bool."""
    if isinstance(value, bool):
        return value
    cleaned = value.strip().lower()
    if cleaned in ("on", "yes", "true", "1"):
        return True
    if cleaned in ("off", "no", "false", "0"):
        return False
    raise InvalidValue(what, f"{what} {value!r} is not on or off")


def get_settings(engine: Engine) -> dict[str, str]:
    """The settings that are set, by stored key (unset keys are absent: built-in defaults apply)."""
    with reading(engine) as connection:
        rows = connection.execute(select(settings.c.key, settings.c.value)).all()
    return {key: value for key, value in rows}


def set_setting(engine: Engine, key: str, value: str) -> str:
    """Store a checked value under ``key`` (either spelling); return the stored value."""
    key = setting_key(key)
    stored = setting_value(key, value)
    with transaction(engine) as connection:
        if key in ("default_language", "default_voice"):
            with field("value"):
                _check_default_voice(connection, key, stored)
        changed = connection.execute(
            settings.update().where(settings.c.key == key).values(value=stored)
        ).rowcount
        if not changed:
            connection.execute(settings.insert().values(key=key, value=stored))
    return stored


def _check_default_voice(connection: Connection, key: str, stored: str) -> None:
    """The default voice must speak the default language, whichever of the two changes."""
    current = dict(
        connection.execute(
            select(settings.c.key, settings.c.value).where(
                settings.c.key.in_(("default_language", "default_voice"))
            )
        ).all()
    )
    language = stored if key == "default_language" else current.get("default_language")
    voice = stored if key == "default_voice" else current.get("default_voice")
    language = language or Defaults().language
    if voice is None:
        return  # the built-in voice is replaced by the language's own default where needed
    try:
        validation.voice_for_language(language, voice, what="default-voice")
    except validation.InvalidValue as error:
        if key == "default_language":
            raise InvalidValue(
                "value",
                f"{error}; run `backline settings unset default-voice` first ({language}'s "
                f"default voice is then used), and set default-voice again afterwards if you like",
            ) from None
        raise


def unset_setting(engine: Engine, key: str) -> bool:
    """Go back to the built-in default for ``key``; return whether it had been set."""
    key = setting_key(key)
    with transaction(engine) as connection:
        removed = connection.execute(delete(settings).where(settings.c.key == key)).rowcount
    return bool(removed)


def built_in_settings() -> dict[str, str | None]:
    """The value each setting has when it is not set, by stored key."""
    return {row.key: built_in_text(row) for row in GLOBAL_SETTINGS}
