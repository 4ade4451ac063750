"""`backline settings ...`: the defaults every number falls back to, and the catch-all."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json
from backline.cli._common import engine as open_database
from backline.core.validation import InvalidValue

app = typer.Typer(
    help="Show and change the global settings: what every number that sets nothing of its own "
    "gets (message, language, voice, ring timeout, voicemail, screening, hours' time zone, "
    "closed treatment, ringing), and the catch-all destination for numbers not in the table.",
    no_args_is_help=True,
)

Key = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="A setting, as `backline settings show` lists them (default-message, catch-all, "
        "default-when-unanswered, voicemail-max-length, default-timezone, ...).",
        show_default=False,
    ),
]


def _shown_key(key: str) -> str:
    return key.replace("_", "-")


def _effective(stored: dict[str, str]) -> dict[str, Any]:
    """What the answer path uses for each setting, as it reads them, by stored key."""
    from backline.core.voices import say_voice
    from backline.store.calls import defaults_from_settings

    defaults = defaults_from_settings(stored)
    return {
        "default_message": defaults.message,
        "default_language": defaults.language,
        # The voice the apology is really read in: the built-in Japanese voice gives way to the
        # default language's own voice when only the language was changed.
        "default_voice": say_voice(defaults.language, defaults.voice),
        "catch_all": defaults.catch_all,
        "default_ring_timeout": defaults.ring_timeout,
        "default_when_unanswered": defaults.when_unanswered,
        "voicemail_max_length": defaults.voicemail_max_length,
        "default_transcribe": defaults.transcribe,
        "default_screen": defaults.screen,
        "default_timezone": defaults.timezone,
        "default_when_closed": defaults.when_closed,
        "default_answer_on_bridge": defaults.answer_on_bridge,
        "default_ring_tone": defaults.ring_tone,
    }


def _shown_value(key: str, value: Any) -> str:
    """A setting's value as the table shows it."""
    if key == "catch_all" and value is None:
        return "(none: unknown numbers hear the message)"
    if key == "default_ring_tone" and value is None:
        return "(Twilio's: us)"
    if key in ("default_ring_timeout", "voicemail_max_length"):
        return f"{value} s"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@app.command("show")
def show(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Show every setting's effective value, and which are backline's built-in defaults."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.manage.errors import ManageError
    from backline.manage.settings import SETTING_KEYS, get_settings

    try:
        stored = get_settings(open_database(database_url))
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    effective = _effective(stored)
    rows = [(key, effective[key], not stored.get(key)) for key in SETTING_KEYS]
    if as_json:
        print_json(
            {
                _shown_key(key): {"value": value, "built_in": built_in}
                for key, value, built_in in rows
            }
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("SETTING", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    table.add_column("SOURCE", no_wrap=True)
    for key, value, built_in in rows:
        shown = _shown_value(key, value)
        table.add_row(_shown_key(key), Text(shown), "built-in" if built_in else "set")
    Console(highlight=False).print(table)


@app.command("set")
def set_(
    key: Key,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Change a setting; the service picks it up when it next refreshes its table."""
    from backline.manage.errors import ManageError
    from backline.manage.settings import set_setting, setting_key, setting_value

    try:
        stored_key = setting_key(key)
        if stored_key == "catch_all":
            from backline.cli.numbers import parse_destinations

            value = parse_destinations([value], "")[0]
        elif stored_key == "default_when_closed":
            from backline.cli.numbers import parse_when_closed

            value = parse_when_closed(value, "")
        checked = setting_value(stored_key, value)
        stored = set_setting(open_database(database_url), stored_key, checked)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    shown = (
        f"{stored} s" if stored_key in ("default_ring_timeout", "voicemail_max_length") else stored
    )
    typer.echo(f"{_shown_key(stored_key)} is now {shown}")


@app.command("unset")
def unset(key: Key, database_url: DatabaseUrl = None) -> None:
    """Go back to the built-in default for a setting (for catch-all: no catch-all)."""
    from backline.manage.errors import ManageError
    from backline.manage.settings import built_in_settings, setting_key, unset_setting

    try:
        stored_key = setting_key(key)
        was_set = unset_setting(open_database(database_url), stored_key)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    built_in = built_in_settings()[stored_key]
    if stored_key == "catch_all":
        now = "there is no catch-all"
    elif stored_key == "default_ring_tone":
        now = "Twilio's own ringback (us) applies"
    elif stored_key in ("default_ring_timeout", "voicemail_max_length"):
        now = f"the built-in default {built_in} s applies"
    else:
        now = f"the built-in default {built_in} applies"
    shown = _shown_key(stored_key)
    if was_set:
        typer.echo(f"unset {shown}: {now}")
    else:
        typer.echo(f"{shown} was not set; {now}")
