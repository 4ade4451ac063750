"""`backline db ...`: the schema."""

from __future__ import annotations

import typer

from backline.cli._common import config, fail

app = typer.Typer(help="Create or migrate the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: str = typer.Option(
        None, "--database-url", help="Overrides BACKLINE_DATABASE_URL."
    ),
) -> None:
    """Create the tables, or migrate them to this version of backline (safe to repeat)."""
    from backline.config import ConfigError, normalise_database_url
    from backline.store.migrate import upgrade as run_upgrade

    url = config().database_url
    if database_url:
        try:
            url = normalise_database_url(database_url)
        except ConfigError as error:
            fail(str(error))
    try:
        run_upgrade(url)
    except Exception as error:  # the operator needs the reason, not a traceback
        fail(f"could not upgrade {url}: {error}")
    typer.echo(f"database is up to date: {url}")
