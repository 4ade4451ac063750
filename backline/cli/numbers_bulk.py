"""`backline numbers export` and `backline numbers import`: the table as a file, both ways, and
the table from a company's own client database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from backline.cli._common import DatabaseUrl, audited, config, fail, print_json, record_import
from backline.cli._common import engine as open_database

if TYPE_CHECKING:
    from backline.imports.rows import RawRow
    from backline.manage.bulk import Difference

Format = Literal["csv", "json"]
# A file bigger than this is not a table of numbers.
MAX_FILE_BYTES = 50 * 1024 * 1024

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="csv or json (default: from the file name, else csv).",
        show_default=False,
    ),
]


def _format(value: str | None, path: str | None) -> Format:
    chosen = (value or "").strip().lower()
    if not chosen:
        chosen = "json" if path and path.lower().endswith(".json") else "csv"
    if chosen == "csv":
        return "csv"
    if chosen == "json":
        return "json"
    fail(f"--format {value!r} is not csv or json")


def export(
    format_: FormatOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write every number with all its fields (CSV, or JSON), the columns `numbers import`
    reads: edit the file, import it back."""
    from backline.imports.rows import export_csv, export_json
    from backline.manage.errors import ManageError
    from backline.manage.numbers import list_numbers

    chosen = _format(format_, None)
    try:
        entries = list_numbers(open_database(database_url))
    except ManageError as error:
        fail(str(error))
    if chosen == "json":
        print_json(export_json(entries))
    else:
        sys.stdout.write(export_csv(entries))


def _read_file(path: str, chosen: Format) -> list[RawRow]:
    from backline.imports.rows import read_csv, read_json

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}")
    if len(data) > MAX_FILE_BYTES:
        fail(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        fail(f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8")
    return read_json(text) if chosen == "json" else read_csv(text)


def show_difference(diff: Difference, source: str) -> None:
    """The difference, one line per number; a changed number's fields below it."""
    for note in diff.notes:
        typer.echo(note, err=True)
    for new, existing in diff.look_alike:
        typer.echo(
            f"warning: new client {new!r} looks like the existing {existing!r}: a typo?", err=True
        )
    for item in diff.added:
        entry = item.entry
        details = [entry.mode, f"{entry.ring_timeout} s"]
        if entry.client:
            details.append(f"client {entry.client}" + (" (new)" if item.new_client else ""))
        if not entry.enabled:
            details.append("disabled")
        typer.echo(f"+ {entry.number} -> {', '.join(entry.destinations)} ({', '.join(details)})")
    for change in diff.changed:
        typer.echo(f"~ {change.after.number}")
        fields = change.fields
        width = max(len(label) for label, _, _ in fields)
        for label, was, now in fields:
            typer.echo(f"    {label + ':':<{width + 1}} {was} -> {now}")
    for entry in diff.removed:
        typer.echo(f"- {entry.number} (was forwarded to {', '.join(entry.destinations)})")
    if diff.not_in_source:
        count = len(diff.not_in_source)
        them = "it" if count == 1 else "them"
        typer.echo(
            f"{count} number{'s' if count != 1 else ''} of the table not in {source}: kept "
            f"(--prune removes {them})"
        )


def _counts(diff: Difference) -> str:
    parts = [
        f"{len(diff.added)} added",
        f"{len(diff.changed)} changed",
        f"{len(diff.removed)} removed",
        f"{diff.unchanged} unchanged",
    ]
    if diff.new_clients:
        parts.append(
            f"{len(diff.new_clients)} new client{'s' if len(diff.new_clients) > 1 else ''}"
        )
    return ", ".join(parts)


def run_import(
    rows: list[RawRow], source: str, *, dry_run: bool, prune: bool, database_url: str | None
) -> Difference:
    """Check ``rows``, show the difference, write it unless ``dry_run``; one error line per
    problem (and nothing written) otherwise."""
    from backline.core.validation import InvalidValue
    from backline.manage import bulk
    from backline.manage.errors import ManageError

    if prune and not rows:
        fail(f"{source} has no rows: with --prune that would remove every number; refused")
    try:
        wanted, notes = bulk.validate(rows, region=config().default_region)
        engine = open_database(database_url)
        if dry_run:
            diff = bulk.preview(engine, wanted, prune=prune, notes=notes)
        else:
            with audited(database_url) as changes:
                diff = bulk.apply(changes.engine, wanted, prune=prune, notes=notes)
                record_import(changes, diff)
    except bulk.RowErrors as error:
        for line in error.errors:
            typer.echo(f"error: {line}", err=True)
        fail(str(error))
    except (InvalidValue, ManageError) as error:
        fail(f"{error}; nothing was written")
    show_difference(diff, source)
    if dry_run:
        typer.echo(f"dry run, nothing written: {_counts(diff)}")
    elif diff.empty:
        typer.echo(f"nothing to change: {_counts(diff)}")
    else:
        typer.echo(f"imported: {_counts(diff)}")
    return diff


def import_(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE",
            help="A CSV or JSON file as `numbers export` writes it (- for standard input).",
            show_default=False,
        ),
    ] = None,
    format_: FormatOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove the numbers of the table that the source lacks."),
    ] = False,
    from_sql: Annotated[
        str | None,
        typer.Option(
            "--from-sql",
            metavar="URL",
            help="Read the rows from this database instead of a file: postgresql://... or "
            "mysql://... (read-only; keep the password in PGPASSWORD, ~/.pgpass or an option "
            "file).",
            show_default=False,
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            metavar="SQL",
            help="With --from-sql: the SELECT giving twilio_number, destination, client (and "
            "any other column of the file format).",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make the table of numbers what a file (or a query) says, all or nothing: every row is
    checked first, and the changes are shown (added, changed, removed with --prune)."""
    from backline.imports.rows import SourceError

    if (file is None) == (from_sql is None):
        fail("give a FILE to import, or --from-sql URL with --query")
    if from_sql is not None and not (query or "").strip():
        fail('--from-sql needs --query "SELECT twilio_number, destination, client FROM ..."')
    if from_sql is None and query is not None:
        fail("--query goes with --from-sql")
    try:
        if from_sql is not None:
            from backline.imports.sql import read_query, shown_url

            source = shown_url(from_sql)
            rows = read_query(from_sql, query or "")
        else:
            assert file is not None
            source = "standard input" if file == "-" else file
            rows = _read_file(file, _format(format_, file))
    except SourceError as error:
        fail(str(error))
    run_import(rows, source, dry_run=dry_run, prune=prune, database_url=database_url)


def register(app: typer.Typer) -> None:
    """Add `export` and `import` to the `numbers` group."""
    app.command("export")(export)
    app.command("import")(import_)
