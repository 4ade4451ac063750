"""The ``backline`` command: one module per command group."""

from __future__ import annotations

import typer

from backline.cli import (
    admin,
    calls,
    channels,
    clients,
    db,
    demo,
    drill,
    imports,
    journal,
    numbers,
    numbers_bulk,
    serve,
    settings,
    simulate,
    tokens,
    twilio,
    worker,
)
from backline.cli._common import readable_help

app = typer.Typer(
    name="backline",
    help="The fallback URL for Twilio voice numbers: forward diverted calls, tell the team.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, shaped by readable_help: it reads the same in a terminal, a pipe or a log.
    rich_markup_mode=None,
)
numbers_bulk.register(numbers.app)
app.add_typer(numbers.app, name="numbers")
app.add_typer(clients.app, name="clients")
app.add_typer(settings.app, name="settings")
app.add_typer(calls.app, name="calls")
app.add_typer(db.app, name="db")
app.add_typer(channels.app, name="channels")
app.add_typer(journal.app, name="journal")
app.add_typer(twilio.app, name="twilio")
app.add_typer(imports.app, name="import")
app.add_typer(tokens.app, name="tokens")
app.add_typer(tokens.users_app, name="users")
app.add_typer(admin.app, name="admin")
app.add_typer(admin.audit_app, name="audit")
serve.register(app)
demo.register(app)
simulate.register(app)
drill.register(app)
worker.register(app)
readable_help(app)


def main() -> None:
    app()
