"""`--help` as an operator reads it: placeholders in capitals, never Python's types or braces."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from backline.cli import app

runner = CliRunner()


def _command_paths() -> list[tuple[str, ...]]:
    import click

    root: Any = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = [()]

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append((*path, name))
            walk(sub, (*path, name))

    walk(root, ())
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda path: " ".join(path) or "backline")
def test_help_shows_readable_placeholders(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    usage = result.output.splitlines()[0]
    assert usage.startswith("Usage: backline")
    # No Python type labels (<bool>, <str>, <int range>) and no braces around arguments.
    assert not re.search(r"<[a-z][a-z_ \[\]]*>", result.output), result.output
    assert "{" not in result.output and "}" not in result.output, result.output
    assert "<=x" not in result.output, result.output  # ranges are said in words
    # Every option that takes a value names it in capitals: "--port PORT".
    for line in result.output.splitlines():
        match = re.match(r"\s+(?:-\w, )?(--[a-z-]+)(?: ([^ ]+))?\s{2}", line)
        if match and match[2]:
            assert match[2].isupper(), line


def test_the_usage_line_names_the_arguments() -> None:
    result = runner.invoke(app, ["channels", "test", "--help"])

    assert result.output.splitlines()[0] == "Usage: backline channels test [OPTIONS] ID"
    assert "\n  ID  The channel's number" in result.output
