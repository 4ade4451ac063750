"""`backline admin serve` (the REST API and the web admin as a process of their own) and
`backline audit list`."""

from __future__ import annotations

from typing import Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json, time_shown
from backline.cli._common import config as load_config
from backline.cli._common import engine as open_database

app = typer.Typer(help="The REST API and the web admin.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: every change, from the API, the web or the CLI.", no_args_is_help=True
)


@app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to listen on.")] = 8001,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve /api and /admin only (no Twilio paths), away from the fallback's processes."""
    import uvicorn

    from backline.config import normalise_database_url
    from backline.logs import configured
    from backline.manage.tokens import any_token
    from backline.web.admin_server import create_admin_app

    if not 1 <= port <= 65535:
        fail(f"--port {port} is not a port number (1 to 65535)")
    config = load_config()
    if database_url:
        config = config.with_overrides(database_url=normalise_database_url(database_url))
    if not config.admin_token and not any_token(open_database(config.database_url)):
        fail(
            "the admin surface is off: make a token first (`backline tokens create --name NAME`) "
            "or set BACKLINE_ADMIN_TOKEN"
        )
    with configured(config) as log_config:
        uvicorn.run(
            create_admin_app(config),
            host=host,
            port=port,
            log_config=log_config,
            log_level=config.log_level.lower(),
            proxy_headers=True,
            access_log=False,
        )


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="How many entries.")] = 50,
    target: Annotated[
        str | None, typer.Option("--target", metavar="WHAT", help="Only entries about this.")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The newest changes first: when, who, what, and each field before and after."""
    from backline.manage import audit

    if not 1 <= limit <= 500:
        fail(f"--limit {limit} is out of range (1 to 500)")
    entries = audit.list_entries(open_database(database_url), limit=limit, target=target)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no changes recorded yet")
        return
    shown = time_shown()
    for entry in entries:
        typer.echo(
            f"{shown(entry.at)}  {entry.actor} ({entry.source})  {entry.action} {entry.target}"
        )
        for key, old, new in (
            entry.changes if entry.before is not None and entry.after is not None else ()
        ):
            typer.echo(f"    {key}: {old!r} -> {new!r}")
