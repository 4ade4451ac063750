"""What every command shares: the configuration, one way to fail, one way to print JSON."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from backline.config import Config, ConfigError, normalise_database_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["AsJson", "DatabaseUrl", "config", "engine", "fail", "print_json"]

# The options every command that reads the database shares.
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", metavar="URL", help="Overrides BACKLINE_DATABASE_URL."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Say what is wrong on one line, on stderr, and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def config(**overrides: Any) -> Config:
    try:
        return Config.from_env().with_overrides(**overrides)
    except ConfigError as error:
        fail(str(error))


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def engine(database_url: str | None) -> Engine:
    """The database from --database-url or the configuration, with its tables checked."""
    from backline.store.admin import AdminError, open_engine

    try:
        url = normalise_database_url(database_url) if database_url else config().database_url
        return open_engine(url)
    except (ConfigError, AdminError) as error:
        fail(str(error))
