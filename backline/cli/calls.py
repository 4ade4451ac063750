"""`backline calls ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="calls", no_args_is_help=True)
