"""`backline clients ...`: the clients numbers are grouped under."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json
from backline.cli._common import engine as open_database
from backline.core.validation import InvalidValue

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Add, list, rename and remove the clients that numbers belong to.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The client's name.", show_default=False)]


@app.command("add")
def add(name: Name, database_url: DatabaseUrl = None) -> None:
    """Add a client (`numbers add --client` also creates one on first use)."""
    from backline.store import admin

    try:
        entry = admin.add_client(open_database(database_url), admin.client_name(name))
    except (InvalidValue, admin.AdminError) as error:
        fail(str(error))
    typer.echo(f"added client {entry.name}")


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List the clients, with how many numbers each has."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.store import admin

    try:
        entries = admin.list_clients(open_database(database_url))
    except (InvalidValue, admin.AdminError) as error:
        fail(str(error))
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no clients yet; add one with `backline clients add NAME`")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("CLIENT", overflow="fold")
    table.add_column("NUMBERS", justify="right", no_wrap=True)
    table.add_column("ADDED", no_wrap=True)
    for entry in entries:
        table.add_row(Text(entry.name), str(entry.numbers), entry.created_at[:10])
    Console(highlight=False).print(table)


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The current name.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The new name.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Rename a client; its numbers stay with it."""
    from backline.store import admin

    try:
        old, new = admin.client_name(old), admin.client_name(new)
        entry = admin.rename_client(open_database(database_url), old, new)
    except (InvalidValue, admin.AdminError) as error:
        fail(str(error))
    typer.echo(f"renamed client {old} to {entry.name}")


@app.command("remove")
def remove(
    name: Name,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Remove it even if numbers belong to it; they stay, with no client."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a client. Refused while numbers belong to it, unless --force."""
    from backline.store import admin

    try:
        name = admin.client_name(name)
        engine = open_database(database_url)
        detached = admin.remove_client(engine, name, force=force)
    except admin.InUse as error:
        fail(f"{error}, or use --force to keep them without a client")
    except (InvalidValue, admin.AdminError) as error:
        fail(str(error))
    if detached:
        numbers = "1 number now has" if detached == 1 else f"{detached} numbers now have"
        typer.echo(f"removed client {name}; {numbers} no client")
    else:
        typer.echo(f"removed client {name}")
