"""`backline journal ...`: what the state directory holds for the database, and the records the
database refused (set aside so that the others could be stored)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json
from backline.cli._common import config as load_config

if TYPE_CHECKING:
    from backline.store.journal import Journal, SetAside

app = typer.Typer(
    help="The local journal: calls waiting for the database, and calls it refused (set aside).",
    no_args_is_help=True,
)


def _open(database_url: str | None) -> tuple[str, str, Journal]:
    """The database URL, its identity, and the journal of the configured state directory."""
    from backline.config import ConfigError, normalise_database_url
    from backline.store.database import Database
    from backline.store.journal import Journal

    config = load_config()
    url = config.database_url
    if database_url:
        try:
            url = normalise_database_url(database_url)
        except ConfigError as error:
            fail(str(error))
    path = config.state_dir / "journal.db"
    if not path.exists():
        fail(f"{config.state_dir} holds no journal (BACKLINE_STATE_DIR): nothing was journaled")
    journal = Journal(path)
    if not journal.available:
        fail(f"cannot open {path}: {journal.error}")
    return url, Database(url).identity, journal


def _summary(entry: SetAside) -> dict[str, Any]:
    record = entry.record
    return {
        "id": entry.id,
        "record": record.key,
        "to": record.to_number,
        # (A screened leg's key names no caller.)
        "from": getattr(record, "from_number", ""),
        "at": record.at,
        "set_aside_at": entry.at,
        "reason": entry.reason,
    }


@app.command("show")
def show(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Which database this state directory serves, what waits for it, what it refused."""
    from backline.store.binding import bound_identity

    _url, identity, journal = _open(database_url)
    try:
        bound = bound_identity(journal.path.parent) or identity
        entries = [_summary(entry) for entry in journal.set_aside_entries()]
        pending = journal.pending
    finally:
        journal.close()
    if as_json:
        print_json({"database": bound, "pending": pending, "set_aside": entries})
        return
    typer.echo(f"state directory serves {bound}")
    typer.echo(f"{pending} call record(s) waiting to be written to it")
    if not entries:
        typer.echo("nothing set aside")
        return
    typer.echo(f"{len(entries)} record(s) set aside (the database refused them):")
    for entry in entries:
        typer.echo(
            f"  [{entry['id']}] {entry['record']}  to {entry['to'] or '-'}  "
            f"from {entry['from'] or '-'}  {entry['at'][:19].replace('T', ' ')}"
        )
        typer.echo(f"      {entry['reason']}")
    typer.echo("Fix the cause, then: backline journal retry")


@app.command("retry")
def retry(
    ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="[ID]...", help="Only these set-aside records (all by default)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the set-aside records to the database again (cleaned by today's rules)."""
    from backline.store import calls
    from backline.store.binding import bound_identity
    from backline.store.database import Database
    from backline.store.records import cleaned

    url, identity, journal = _open(database_url)
    try:
        bound = bound_identity(journal.path.parent)
        if bound is not None and bound != identity:
            fail(f"these records belong to {bound}, not {identity}: retry against that database")
        entries = journal.set_aside_entries()
        if ids:
            unknown = sorted(set(ids) - {entry.id for entry in entries})
            if unknown:
                fail(f"no set-aside record with id {', '.join(map(str, unknown))}")
            entries = [entry for entry in entries if entry.id in ids]
        if not entries:
            typer.echo("nothing set aside")
            return
        database = Database(url, create=False)
        try:
            connection = database.connect()
        except Exception as error:
            fail(f"cannot reach the database: {type(error).__name__}: {error}")
        stored: list[int] = []
        try:
            for entry in entries:
                try:
                    calls.apply(database, connection, [cleaned(entry.record)])
                    connection.commit()
                except Exception as error:
                    connection.rollback()
                    typer.echo(f"[{entry.id}] {entry.record.key}: still refused: {error}")
                    continue
                stored.append(entry.id)
                typer.echo(f"[{entry.id}] {entry.record.key}: stored")
        finally:
            connection.close()
        journal.forget_set_aside(stored)
    finally:
        journal.close()
    if len(stored) < len(entries):
        raise typer.Exit(1)
