"""`backline import ...`: numbers from the old per-number TwiML files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backline.cli._common import DatabaseUrl, audited, config, fail, record_import
from backline.cli._common import engine as open_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from backline.imports.legacy import FileResult, SmsChannel
    from backline.manage.bulk import Wanted

app = typer.Typer(
    help="Bring numbers in from elsewhere: the old per-number TwiML files.", no_args_is_help=True
)


def _checked(
    results: list[FileResult], region: str
) -> tuple[list[FileResult], list[Wanted], list[SmsChannel]]:
    """Each mapped file's row checked as any imported row is; a file whose values fail (or
    whose number another file already gave) becomes one that could not be mapped."""
    from backline.core.validation import InvalidValue
    from backline.imports.legacy import SmsChannel, row_of
    from backline.manage import bulk
    from backline.manage.phones import parse_number

    checked: list[FileResult] = []
    wanted: list[Wanted] = []
    channels: list[SmsChannel] = []
    first: dict[str, str] = {}
    for result in results:
        if result.problem is not None or result.route is None:
            checked.append(result)
            continue
        try:
            (row,), _warnings = bulk.validate([row_of(result)], region=region)
        except bulk.RowErrors as error:
            reasons = "; ".join(line.removeprefix(f"{result.path}, ") for line in error.errors)
            checked.append(replace(result, problem=reasons))
            continue
        if row.number in first:
            checked.append(replace(result, problem=f"{row.number} is also {first[row.number]}"))
            continue
        first[row.number] = result.path
        if row.caller_id == row.number:
            row = replace(row, caller_id="twilio-number")  # the same, said as backline says it
        notes = list(result.notes)
        client = row.client if isinstance(row.client, str) else None
        for target in result.route.sms_to:
            try:
                phone = parse_number(target, region=region, what="SMS number").value
            except InvalidValue as error:
                notes.append(f"left out the SMS: {error}")
                continue
            channels.append(SmsChannel(phone, client))
        checked.append(replace(result, number=row.number, notes=tuple(notes)))
        wanted.append(row)
    return checked, wanted, channels


def _describe(row: Wanted) -> str:
    details = [row.mode] if isinstance(row.mode, str) else []
    if isinstance(row.ring_timeout, int):
        details.append(f"{row.ring_timeout} s")
    if isinstance(row.caller_id, str):
        details.append(f"caller ID {row.caller_id}")
    if isinstance(row.message, str):
        spoken = " ".join(str(part) for part in (row.language, row.voice) if isinstance(part, str))
        details.append(f"message{f' in {spoken}' if spoken else ''}")
    return f"{', '.join(row.destinations)} ({', '.join(details)})"


@app.command("twiml")
def twiml(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...",
            help="TwiML files, or folders of them (read through, hidden files skipped).",
            show_default=False,
        ),
    ],
    apply: Annotated[
        bool, typer.Option("--apply", help="Write what was mapped (without it: only show it).")
    ] = False,
    map_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            metavar="FILE",
            help="A CSV of file,number[,client]: the Twilio number (and client) of each file "
            "whose name is not its number.",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Read the old per-number TwiML files into the table of numbers: what each one forwarded
    to, its caller ID, ring time and apology, and its SMS targets as SMS channels. Running it
    again changes nothing more. Exits 1 when a file could not be mapped."""
    from backline.cli.numbers_bulk import show_difference
    from backline.core.validation import InvalidValue
    from backline.imports.legacy import add_channels, missing_channels, read_map, scan
    from backline.imports.rows import SourceError
    from backline.manage import bulk
    from backline.manage.errors import ManageError

    try:
        mapping = None
        if map_file is not None:
            try:
                mapping = read_map(map_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                fail(f"cannot read the mapping file {map_file}: {error}")
        results = scan(paths, mapping)
    except SourceError as error:
        fail(str(error))
    checked, wanted, channels = _checked(results, config().default_region)
    by_number = {row.where: row for row in wanted}
    for result in checked:
        if result.problem is None and result.path in by_number:
            row = by_number[result.path]
            typer.echo(f"mapped {row.number} <- {result.path}: {_describe(row)}")
        else:
            typer.echo(f"not mapped {result.path}: {result.problem}")
        for note in result.notes:
            typer.echo(f"    {note}")
    not_mapped = sum(1 for result in checked if result.problem is not None)
    added: list[SmsChannel] = []
    try:
        engine = open_database(database_url)
        if apply:

            def add_sms(shared: Engine) -> None:
                added.extend(missing_channels(shared, channels))
                add_channels(shared, added)

            with audited(database_url) as changes:
                diff = bulk.apply(changes.engine, wanted, then=add_sms)
                record_import(changes, diff)
        else:
            diff = bulk.preview(engine, wanted)
            added = missing_channels(engine, channels)
    except bulk.RowErrors as error:
        for line in error.errors:
            typer.echo(f"error: {line}", err=True)
        fail(str(error))
    except (InvalidValue, ManageError) as error:
        fail(f"{error}; nothing was written")
    show_difference(diff, "the files")
    for channel in added:
        typer.echo(f"+ SMS channel {channel.target} for {channel.scope}")
    summary = (
        f"{len(checked)} files: {len(wanted)} mapped, {not_mapped} not mapped; "
        f"{len(diff.added)} numbers to add, {len(diff.changed)} to change, "
        f"{diff.unchanged} as they are, {len(added)} SMS channels to add"
    )
    if not apply:
        typer.echo(f"dry run, nothing written: {summary} (add --apply to write them)")
    elif diff.empty and not added:
        typer.echo(f"nothing to change: {summary}")
    else:
        typer.echo(
            f"imported: {summary}".replace(" to add", " added").replace(" to change", " changed")
        )
    if not_mapped:
        raise typer.Exit(1)
