"""`backline settings ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="settings", no_args_is_help=True)
