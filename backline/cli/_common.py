"""What every command shares: the configuration, one way to fail, one way to print JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperArgument, TyperCommand

from backline.config import Config, ConfigError, normalise_database_url
from backline.core.redact import mask_password

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from backline.manage.audit import Changes

__all__ = [
    "AsJson",
    "Command",
    "DatabaseUrl",
    "audited",
    "config",
    "engine",
    "fail",
    "print_json",
    "readable_help",
    "record_import",
    "time_shown",
]


class Command(TyperCommand):
    """Help as a person reads it: ``backline channels test [OPTIONS] ID``, each option with its
    placeholder (``--port PORT``), no Python types (``<bool>``, ``<str>``) and no braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = []
        for piece in super().collect_usage_pieces(ctx):
            more = piece.endswith("...")
            bare = piece.removesuffix("...")
            if bare.startswith("{") and bare.endswith("}"):
                piece = bare[1:-1] + ("..." if more else "")
            pieces.append(piece)
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                if not param.hidden:
                    arguments.append((param.metavar or str(param.name).upper(), param.help or ""))
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def readable_help(app: typer.Typer) -> None:
    """Give every command of ``app`` and of its groups :class:`Command`'s help (commands are
    registered in each module as usual; this runs once, where the groups are put together)."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = Command
    for group in app.registered_groups:
        if group.typer_instance is not None:
            readable_help(group.typer_instance)


# The options every command that reads the database shares.
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", metavar="URL", help="Overrides BACKLINE_DATABASE_URL."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Say what is wrong on one line, on stderr, and exit non-zero.

    Errors often quote the database URL (or a driver's message about it): its password is
    masked here, whatever the message.
    """
    typer.echo(f"error: {mask_password(message)}", err=True)
    raise typer.Exit(code)


def config(**overrides: Any) -> Config:
    try:
        return Config.from_env().with_overrides(**overrides)
    except ConfigError as error:
        fail(str(error))


def time_shown() -> Callable[[str], str]:
    """Shows a stored (UTC) time in the configured zone, always with the zone's name:
    ``2026-11-24 14:05:03 JST``, as the messages to the team do."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import format_time

    zone = ZoneInfo(config().timezone)
    return lambda at: format_time(at, zone)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def engine(database_url: str | None) -> Engine:
    """The database from --database-url or the configuration, with its tables checked."""
    from backline.manage.engine import open_database
    from backline.manage.errors import ManageError

    try:
        url = normalise_database_url(database_url) if database_url else config().database_url
        return open_database(url)
    except (ConfigError, ManageError) as error:
        fail(str(error))


@contextmanager
def audited(database_url: str | None) -> Iterator[Changes]:
    """One transaction for a command's change and its audit entries (see docs/admin.md): give
    the management functions ``changes.engine``, then ``changes.record(...)`` what they did.
    Either both are written or neither (a ManageError says why)."""
    from backline.manage import audit

    with audit.changes(engine(database_url), actor=audit.cli_actor(), source="cli") as changes:
        yield changes


def record_import(changes: Changes, diff: Any) -> None:
    """Each number a bulk import added, changed or removed, in the audit log."""
    for added in diff.added:
        changes.record("number.add", added.entry.number, None, added.entry.to_json())
    for changed in diff.changed:
        before, after = changed.before.to_json(), changed.after.to_json()
        changes.record("number.update", changed.after.number, before, after)
    for removed in diff.removed:
        changes.record("number.remove", removed.number, removed.to_json(), None)
