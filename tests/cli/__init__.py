"""Tests of the `backline` command, driven in-process against real databases.

``invoke`` runs one command line against ``database_url`` (passed as --database-url, as a user
would); ``answer_table`` reads the table back the way the answer path does.
"""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from backline.cli import app
from backline.core.models import Defaults, Route
from backline.store.calls import load_table
from backline.store.database import Database

runner = CliRunner()


def invoke(database_url: str | None, *args: str) -> Result:
    extra = ["--database-url", database_url] if database_url else []
    return runner.invoke(app, [*args, *extra])


def ok(database_url: str | None, *args: str) -> str:
    """Run a command that must succeed; return its standard output. Standard error may only
    carry notes (how a value was read, how Twilio will dial), never a warning or an error."""
    result = invoke(database_url, *args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert all(line.startswith("note: ") for line in result.stderr.splitlines()), result.stderr
    return result.stdout


def refused(database_url: str | None, *args: str) -> str:
    """Run a command that must be refused with one error line; return that line."""
    result = invoke(database_url, *args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def as_json(database_url: str | None, *args: str) -> Any:
    return json.loads(ok(database_url, *args, "--json"))


def answer_table(database_url: str) -> tuple[dict[str, Route], Defaults]:
    db = Database(database_url)
    connection = db.connect()
    try:
        return load_table(db, connection)
    finally:
        connection.close()
