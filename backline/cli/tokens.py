"""`backline tokens ...` and `backline users ...`: who may use the REST API and the web admin."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, audited, fail, print_json, time_shown
from backline.cli._common import engine as open_database
from backline.core.validation import InvalidValue
from backline.manage.errors import ManageError

app = typer.Typer(
    help="Bearer tokens for the REST API and the web admin (shown once, stored as a hash).",
    no_args_is_help=True,
)
users_app = typer.Typer(
    help="People who sign in to the web admin with a password (stored as an Argon2id hash).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The token's name.", show_default=False)]
ReadOnly = Annotated[bool, typer.Option("--read-only", help="May read but not change anything.")]


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="What the token is for.")],
    read_only: ReadOnly = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a token and print it once (only its hash is stored)."""
    from backline.manage import tokens

    try:
        with audited(database_url) as changes:
            entry, token = tokens.create(changes.engine, name, read_only=read_only)
            changes.record("token.create", entry.name, None, entry.to_json())
    except (InvalidValue, tokens.TokenError, ManageError) as error:
        fail(str(error))
    typer.echo(token)
    kind = "read-only token" if entry.read_only else "token"
    typer.echo(f"note: created {kind} {entry.name!r}; keep it now, it is not shown again", err=True)


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List the tokens (never the tokens themselves)."""
    from backline.manage import tokens

    entries = tokens.list_tokens(open_database(database_url))
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no tokens yet; make one with `backline tokens create --name NAME`")
        return
    shown = time_shown()
    for entry in entries:
        state = f"revoked {shown(entry.revoked_at)}" if entry.revoked_at else "active"
        used = shown(entry.last_used_at) if entry.last_used_at else "never used"
        access = "read-only" if entry.read_only else "read-write"
        typer.echo(f"{entry.name}\t{access}\t{state}\tcreated {shown(entry.created_at)}\t{used}")


@app.command("revoke")
def revoke(name: Name, database_url: DatabaseUrl = None) -> None:
    """Revoke a token: it stops working at once."""
    from backline.manage import tokens

    try:
        with audited(database_url) as changes:
            entry = tokens.revoke(changes.engine, name)
            changes.record("token.revoke", entry.name, None, entry.to_json())
    except (InvalidValue, tokens.TokenError, ManageError) as error:
        fail(str(error))
    typer.echo(f"revoked token {entry.name!r}")


UserName = Annotated[
    str, typer.Argument(metavar="NAME", help="The user's name.", show_default=False)
]


def _password() -> str:
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ")
    return first


@users_app.command("add")
def user_add(name: UserName, read_only: ReadOnly = False, database_url: DatabaseUrl = None) -> None:
    """Add a user; the password is asked for (BACKLINE_NEW_PASSWORD for scripts)."""
    import os

    from backline.manage import users

    password = os.environ.get("BACKLINE_NEW_PASSWORD") or _password()
    try:
        with audited(database_url) as changes:
            entry = users.add(changes.engine, name, password, read_only=read_only)
            changes.record("user.add", entry.name, None, entry.to_json())
    except (InvalidValue, users.UserError, ManageError) as error:
        fail(str(error))
    typer.echo(f"added user {entry.name}")


@users_app.command("passwd")
def user_passwd(name: UserName, database_url: DatabaseUrl = None) -> None:
    """Set a user's password (asked for, or BACKLINE_NEW_PASSWORD)."""
    import os

    from backline.manage import users

    password = os.environ.get("BACKLINE_NEW_PASSWORD") or _password()
    try:
        with audited(database_url) as changes:
            entry = users.set_password(changes.engine, name, password)
            changes.record("user.password", entry.name, None, None)
    except (InvalidValue, users.UserError, ManageError) as error:
        fail(str(error))
    typer.echo(f"changed the password of {entry.name}")


@users_app.command("list")
def user_list(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List the users."""
    from backline.manage import users

    entries = users.list_users(open_database(database_url))
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    for entry in entries:
        typer.echo(f"{entry.name}\t{'read-only' if entry.read_only else 'read-write'}")
    if not entries:
        typer.echo("no users yet; add one with `backline users add NAME`")


@users_app.command("remove")
def user_remove(name: UserName, database_url: DatabaseUrl = None) -> None:
    """Remove a user."""
    from backline.manage import users

    try:
        with audited(database_url) as changes:
            entry = users.remove(changes.engine, name)
            changes.record("user.remove", entry.name, entry.to_json(), None)
    except (InvalidValue, users.UserError, ManageError) as error:
        fail(str(error))
    typer.echo(f"removed user {entry.name}")
