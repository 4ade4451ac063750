"""What every command shares: the configuration, one way to fail, one way to print JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

from backline.config import Config, ConfigError

__all__ = ["config", "fail", "print_json"]


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
