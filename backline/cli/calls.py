"""`backline calls ...`: the log of diverted calls and what became of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, fail, print_json, time_shown
from backline.cli._common import engine as open_database
from backline.core.validation import InvalidValue

if TYPE_CHECKING:
    from backline.manage.calls import CallEntry

app = typer.Typer(
    help="The log of calls Twilio diverted to backline: where they went and how they ended.",
    no_args_is_help=True,
)

MAX_LIMIT = 10_000
# How a call's route kind is shown where its word alone would not say it.
_ROUTE_KINDS = {"closed": "outside hours"}


def _seconds(value: int | None) -> str:
    return "-" if value is None else f"{value} s"


def _lines(entry: CallEntry, shown: Callable[[str], str]) -> list[str]:
    """A call on one line (its time in the configured zone), then one line per dial leg."""
    outcome = entry.outcome
    if entry.duration is not None and entry.outcome == "answered":
        outcome += f" {_seconds(entry.duration)}"
    if entry.route_kind != "route":
        outcome += f" ({_ROUTE_KINDS.get(entry.route_kind, entry.route_kind)})"
    time = shown(entry.time)
    caller = entry.from_ or "unknown"
    lines = [f"{time}  {entry.to}  from {caller}  {entry.client or '-'}  {outcome}"]
    for leg in entry.legs:
        ended = leg.status + (f" {_seconds(leg.duration)}" if leg.duration is not None else "")
        if leg.picked_up_at and leg.accepted:
            ended += f", taken by {leg.picked_up_at} (screened)"
        elif leg.picked_up_at:
            ended += f", declined by {leg.picked_up_at} (screened)"
        lines.append(f"    {leg.step + 1}. {', '.join(leg.destinations)}: {ended}")
    if not entry.legs and entry.destinations:
        doing = "ringing" if entry.outcome == "forwarding" else "dialled"
        lines.append(f"    {doing} {', '.join(entry.destinations)}")
    for destination in entry.declined:
        lines.append(f"    picked up and declined by {destination} (screened)")
    message = entry.voicemail
    if message is not None:
        if message.status == "completed" and message.recording_url:
            lines.append(f"    voicemail {_seconds(message.duration)}: {message.recording_url}")
        elif message.status:
            lines.append(f"    voicemail: no message left ({message.status})")
        if message.transcription:
            lines.append(f"    transcript: {message.transcription}")
    return lines


@app.command("list")
def list_(
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="How many calls to show.")
    ] = 20,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List the latest diverted calls, newest first, with each dial leg."""
    from backline.manage.calls import list_calls
    from backline.manage.errors import ManageError

    if not 1 <= limit <= MAX_LIMIT:
        fail(f"--limit {limit} is out of range: show 1 to {MAX_LIMIT} calls")
    try:
        entries = list_calls(open_database(database_url), limit)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no calls recorded yet")
        return
    shown = time_shown()
    for entry in entries:
        typer.echo("\n".join(_lines(entry, shown)))
