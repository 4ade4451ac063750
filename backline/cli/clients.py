"""`backline clients ...`."""

from __future__ import annotations

import typer

app = typer.Typer(help="clients", no_args_is_help=True)
