"""`backline clients ...`: the clients numbers are grouped under."""

from __future__ import annotations

from typing import Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, audited, fail, print_json, time_shown
from backline.cli._common import engine as open_database
from backline.core.validation import InvalidValue

app = typer.Typer(
    help="Add, list, rename, merge and remove the clients that numbers belong to.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The client's name.", show_default=False)]


@app.command("add")
def add(name: Name, database_url: DatabaseUrl = None) -> None:
    """Add a client (or create it with `numbers add --client NAME --new-client`)."""
    from backline.manage.clients import add_client
    from backline.manage.errors import ManageError

    try:
        with audited(database_url) as changes:
            entry = add_client(changes.engine, name)
            changes.record("client.add", entry.name, None, entry.to_json())
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    typer.echo(f"added client {entry.name}")


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List the clients, with how many numbers each has."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.manage.clients import list_clients
    from backline.manage.errors import ManageError

    try:
        entries = list_clients(open_database(database_url))
    except (InvalidValue, ManageError) as error:
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
    shown = time_shown()
    for entry in entries:
        table.add_row(Text(entry.name), str(entry.numbers), shown(entry.created_at))
    Console(highlight=False).print(table)


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The current name.")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The new name.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Rename a client; its numbers stay with it."""
    from backline.core.validation import client_name
    from backline.manage.clients import rename_client
    from backline.manage.errors import ManageError

    try:
        old, new = client_name(old), client_name(new)
        with audited(database_url) as changes:
            entry = rename_client(changes.engine, old, new)
            changes.record("client.rename", entry.name, {"name": old}, {"name": entry.name})
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    typer.echo(f"renamed client {old} to {entry.name}")


@app.command("merge")
def merge(
    source: Annotated[
        str, typer.Argument(metavar="FROM", help="The client to merge away (it is removed).")
    ],
    target: Annotated[str, typer.Argument(metavar="INTO", help="The client that stays.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Move every number and channel of FROM to INTO, then remove FROM.

    For one client that got two names ("Sakura Dental" and "sakura dental"): afterwards its
    client-scoped channels hear of all its numbers. Give a name exactly when two differ only
    in case. The call log keeps the name each call had.
    """
    from backline.manage.clients import merge_clients
    from backline.manage.errors import ManageError

    try:
        with audited(database_url) as changes:
            gone, kept, numbers, channels = merge_clients(changes.engine, source, target)
            moved = {"into": kept, "numbers": numbers, "channels": channels}
            changes.record("client.merge", gone, {"name": gone}, moved)
    except (InvalidValue, ManageError) as error:
        fail(str(error))

    def count(n: int, noun: str) -> str:
        return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

    typer.echo(
        f"merged client {gone} into {kept}: {count(numbers, 'number')} and "
        f"{count(channels, 'channel')} moved; {gone} is removed"
    )


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
    from backline.core.validation import client_name
    from backline.manage.clients import remove_client
    from backline.manage.errors import InUse, ManageError

    try:
        name = client_name(name)
        with audited(database_url) as changes:
            detached = remove_client(changes.engine, name, force=force)
            changes.record("client.remove", name, {"name": name, "numbers": detached}, None)
    except InUse as error:
        fail(f"{error}, or use --force to keep them without a client")
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if detached:
        numbers = "1 number now has" if detached == 1 else f"{detached} numbers now have"
        typer.echo(f"removed client {name}; {numbers} no client")
    else:
        typer.echo(f"removed client {name}")
