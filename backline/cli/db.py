"""`backline db ...`: the schema."""

from __future__ import annotations

from pathlib import Path

import typer

from backline.cli._common import DatabaseUrl, config, fail
from backline.config import Config, ConfigError, normalise_database_url, shown_database
from backline.core.redact import mask_password

app = typer.Typer(help="Create or migrate the database schema.", no_args_is_help=True)


def _sqlite_folder(url: str, settings: Config) -> str:
    """Make sure a SQLite file's folder exists; return a note when it was created.

    Only the state directory (the default database's home) is created: any other missing
    folder is more likely a typo than a wish, and a new empty database there would be found
    by nothing else.
    """
    path = url.removeprefix("sqlite:///")
    if not url.startswith("sqlite:///") or path in ("", ":memory:"):
        return ""
    folder = Path(path).parent
    if folder.is_dir():
        return ""
    if folder != settings.state_dir:
        fail(
            f"the folder {folder} does not exist: create it first (mkdir -p {folder}), "
            "or check the database URL"
        )
    try:
        settings.prepare_state_dir()
    except ConfigError as error:
        fail(str(error))
    return f"created the folder {folder}\n"


@app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Create the tables, or migrate them to this version of backline (safe to repeat)."""
    from backline.manage.migrate import upgrade as run_upgrade

    settings = config()
    url = settings.database_url
    if database_url:
        try:
            url = normalise_database_url(database_url)
        except ConfigError as error:
            fail(str(error))
    shown = shown_database(url)
    note = _sqlite_folder(url, settings)
    sqlite_file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    new_file = bool(sqlite_file) and sqlite_file != ":memory:" and not Path(sqlite_file).exists()
    try:
        before, after = run_upgrade(url)
    except Exception as error:  # the operator needs the reason, not a traceback
        origin = getattr(error, "orig", None) or error  # the driver's words, not SQLAlchemy's
        reason = " ".join(str(origin).split()) or type(origin).__name__
        fail(f"could not upgrade {shown}: {mask_password(reason)}")
    typer.echo(note, nl=False)
    if before is None:
        made = f"the database {shown}" if new_file else f"the tables in {shown}"
        typer.echo(f"created {made}, at revision {after}")
    elif before != after:
        typer.echo(f"upgraded the database {shown} from revision {before} to {after}")
    else:
        typer.echo(f"the database {shown} is up to date, at revision {after}")
