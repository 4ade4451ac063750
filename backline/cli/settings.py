"""`backline settings ...`: the defaults every number falls back to, and the catch-all."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backline.cli._common import AsJson, DatabaseUrl, audited, fail, print_json
from backline.cli._common import engine as open_database
from backline.core.settings import GLOBAL_SETTINGS, GlobalSetting, global_setting
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


def _effective(stored: dict[str, str]) -> dict[str, Any]:
    """What the answer path uses for each setting, as it reads them, by stored key."""
    from backline.core.settings import defaults_from_settings
    from backline.core.voices import say_voice

    defaults = defaults_from_settings(stored)
    effective = {row.key: getattr(defaults, row.field) for row in GLOBAL_SETTINGS}
    # The voice the apology is really read in: the built-in Japanese voice gives way to the
    # default language's own voice when only the language was changed.
    effective["default_voice"] = say_voice(defaults.language, defaults.voice)
    return effective


def _shown_value(row: GlobalSetting, value: Any) -> str:
    """A setting's value as the table shows it."""
    if value is None:
        return f"({row.when_none})"
    if row.unit:
        return f"{value} {row.unit}"
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
    from backline.manage.settings import get_settings

    try:
        stored = get_settings(open_database(database_url))
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    effective = _effective(stored)
    rows = [(row, effective[row.key], not stored.get(row.key)) for row in GLOBAL_SETTINGS]
    if as_json:
        print_json(
            {row.name: {"value": value, "built_in": built_in} for row, value, built_in in rows}
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("SETTING", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    table.add_column("SOURCE", no_wrap=True)
    for row, value, built_in in rows:
        shown = _shown_value(row, value)
        table.add_row(row.name, Text(shown), "built-in" if built_in else "set")
    Console(highlight=False).print(table)


@app.command("set")
def set_(
    key: Key,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Change a setting; the service picks it up when it next refreshes its table."""
    from backline.manage.errors import ManageError
    from backline.manage.settings import get_settings, set_setting, setting_key, setting_value

    try:
        stored_key = setting_key(key)
        row = global_setting(stored_key)
        if row.key == "catch_all":
            from backline.cli.numbers import parse_destinations

            value = parse_destinations([value], "")[0]
        elif row.key == "default_when_closed":
            from backline.cli.numbers import parse_when_closed

            value = parse_when_closed(value, "")
        checked = setting_value(stored_key, value)
        with audited(database_url) as changes:
            before = get_settings(changes.engine).get(stored_key)
            stored = set_setting(changes.engine, stored_key, checked)
            if before != stored:
                changes.record("setting.set", stored_key, {"value": before}, {"value": stored})
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    shown = f"{stored} {row.unit}" if row.unit else stored
    typer.echo(f"{row.name} is now {shown}")


@app.command("unset")
def unset(key: Key, database_url: DatabaseUrl = None) -> None:
    """Go back to the built-in default for a setting (for catch-all: no catch-all)."""
    from backline.manage.errors import ManageError
    from backline.manage.settings import (
        built_in_settings,
        get_settings,
        setting_key,
        unset_setting,
    )

    try:
        stored_key = setting_key(key)
        row = global_setting(stored_key)
        with audited(database_url) as changes:
            before = get_settings(changes.engine).get(stored_key)
            was_set = unset_setting(changes.engine, stored_key)
            if was_set:
                changes.record("setting.unset", stored_key, {"value": before}, {"value": None})
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    built_in = built_in_settings()[stored_key]
    if row.key == "catch_all":
        now = "there is no catch-all"
    elif row.key == "default_ring_tone":
        now = "Twilio's own ringback (us) applies"
    elif row.unit:
        now = f"the built-in default {built_in} {row.unit} applies"
    else:
        now = f"the built-in default {built_in} applies"
    shown = row.name
    if was_set:
        typer.echo(f"unset {shown}: {now}")
    else:
        typer.echo(f"{shown} was not set; {now}")
