"""`backline twilio ...`: which of the account's numbers fall back to backline, and fixing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from backline.cli._common import AsJson, DatabaseUrl, config, fail, print_json
from backline.cli._common import engine as open_database

if TYPE_CHECKING:
    from backline.twilio_account.audit import Audit
    from backline.twilio_account.rest import TwilioAccount

app = typer.Typer(
    help='Check and set the Twilio numbers\' "Primary handler fails" URL (the REST API, with '
    "BACKLINE_TWILIO_ACCOUNT_SID and the auth token or an API key).",
    no_args_is_help=True,
)

Subaccounts = Annotated[
    bool,
    typer.Option(
        "--subaccounts",
        help="Also every active subaccount of the account (Twilio's Accounts list).",
    ),
]


def _numbers(count: int) -> str:
    return f"{count} number" if count == 1 else f"{count} numbers"


@dataclass
class _Survey:
    audit: Audit
    account: TwilioAccount
    # Accounts that were not read, and why (suspended, closed, refused).
    not_read: list[str] = field(default_factory=list)


def _survey(database_url: str | None, subaccounts: bool) -> _Survey:
    """Everything the audit needs: the table's routes and, from Twilio, the numbers of the
    account (and its subaccounts) and, when a route names a caller ID, the verified ones."""
    from backline.answer import FALLBACK_PATH
    from backline.core import validation
    from backline.manage.errors import ManageError
    from backline.manage.numbers import list_numbers
    from backline.twilio_account.audit import RouteFacts, audit
    from backline.twilio_account.credentials import MissingCredentials, credentials
    from backline.twilio_account.rest import Account, TwilioAccount, TwilioApiError, TwilioNumber

    settings = config()
    if not settings.public_url:
        fail(
            "set BACKLINE_PUBLIC_URL to the base URL Twilio reaches backline at: each number's "
            "fallback URL is compared with it"
        )
    try:
        signed_in = credentials(settings)
    except MissingCredentials as error:
        fail(str(error))
    if subaccounts and signed_in.username != signed_in.account_sid:
        # Twilio denies a main account's API keys every subaccount resource (and a standard
        # key cannot even list the subaccounts): say so before asking, not once per account.
        fail(
            f"--subaccounts needs the main account's auth token, and {signed_in.kind} is set: "
            "Twilio refuses a main account's API keys access to its subaccounts. Unset "
            "BACKLINE_TWILIO_API_KEY and BACKLINE_TWILIO_API_SECRET for this run, or check "
            "each subaccount with a key of its own (BACKLINE_TWILIO_ACCOUNT_SID set to it)"
        )
    try:
        routes = [
            RouteFacts(entry.number, entry.caller_id, entry.client, entry.enabled)
            for entry in list_numbers(open_database(database_url))
        ]
    except ManageError as error:
        fail(str(error))
    account = TwilioAccount(signed_in)
    main = Account(signed_in.account_sid, "", "active", True)
    not_read: list[str] = []
    numbers: list[TwilioNumber] = []
    verified: dict[str, set[str]] = {}
    explicit_caller_ids = any(validation.is_e164(route.caller_id) for route in routes)
    try:
        accounts = account.accounts() if subaccounts else [main]
    except TwilioApiError as error:
        fail(f"cannot list the subaccounts of {signed_in.account_sid}: {error}")
    for each in accounts:
        if each.status != "active":
            not_read.append(f"{each.sid} {each.friendly_name}: {each.status}".replace("  ", " "))
            continue
        try:
            numbers.extend(account.numbers(each.sid))
            if explicit_caller_ids:
                verified[each.sid] = account.caller_ids(each.sid)
        except TwilioApiError as error:
            if each.main:
                fail(f"cannot list the numbers of {each.sid} as {signed_in.kind}: {error}")
            not_read.append(f"{each.sid} {each.friendly_name}: {error}".replace("  ", " "))
    fallback_url = settings.public_url + FALLBACK_PATH
    return _Survey(audit(numbers, routes, fallback_url, verified), account, not_read)


def _keep(database_url: str | None, result: Audit) -> None:
    """The result, for the web admin's dashboard (a database that cannot keep it only warns:
    the audit itself is what was asked for)."""
    from backline.manage import coverage
    from backline.manage.errors import ManageError

    try:
        coverage.save(open_database(database_url), result)
    except ManageError as error:
        typer.echo(f"warning: the result is not kept for the dashboard: {error}", err=True)


@app.command("audit")
def audit_command(
    as_json: AsJson = False,
    subaccounts: Subaccounts = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Every number of the account: does its fallback point at backline, is there a route?
    Exits 0 only when every number is covered (for cron or CI), 1 otherwise."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.twilio_account.audit import Fallback

    survey = _survey(database_url, subaccounts)
    result = survey.audit
    complete = not survey.not_read
    _keep(database_url, result)
    if as_json:
        print_json({**result.to_json(), "accounts_not_read": survey.not_read})
        raise typer.Exit(0 if result.all_covered and complete else 1)
    console = Console(highlight=False)
    typer.echo(f"backline's fallback URL: {result.fallback_url} (POST)")
    if result.numbers:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("NUMBER", no_wrap=True)
        table.add_column("NAME", overflow="fold")
        table.add_column("VOICE URL", overflow="fold")
        table.add_column("FALLBACK", overflow="fold")
        table.add_column("ROUTE", overflow="fold")
        table.add_column("STATUS", overflow="fold")
        for row in result.numbers:
            item = row.number
            fallback = "-"
            if item.voice_fallback_url:
                fallback = f"{item.voice_fallback_url} ({item.voice_fallback_method or 'POST'})"
            # A TwiML App or trunk takes the calls in place of the voice URL: show which.
            voice = item.voice_application_sid or item.trunk_sid or item.voice_url or "-"
            route = "-"
            if row.route is not None:
                route = row.route.client or "yes"
                if not row.route.enabled:
                    route += " (disabled)"
            status = row.status.value
            if row.fallback in (Fallback.NOT_USED, Fallback.WRONG_METHOD):
                status += f": {row.detail}"
            cells = (item.phone_number, item.friendly_name, voice, fallback, route, status)
            table.add_row(*(Text(cell) for cell in cells))  # Text: Twilio's data is not markup
        console.print(table)
    else:
        typer.echo("the account has no phone numbers")
    for row in result.numbers:
        if row.caller_id_problem:
            typer.echo(f"{row.number.phone_number}: {row.caller_id_problem}")
    if result.not_in_account:
        typer.echo(
            "routes for numbers not in the account: "
            + ", ".join(result.not_in_account)
            + ("" if subaccounts else " (in a subaccount? try --subaccounts)")
        )
    for line in survey.not_read:
        typer.echo(f"not read: account {line}")
    counts = result.counts
    typer.echo(
        f"{counts['covered']} covered, {counts['fallback_missing']} fallback missing, "
        f"{counts['fallback_elsewhere']} fallback elsewhere, {counts['no_route']} no route, "
        f"{counts['routes_not_in_account']} routes for numbers not in the account, "
        f"{counts['caller_id_not_in_account']} caller IDs not in the account"
        + (f" ({counts['no_voice']} numbers without voice left out)" if counts["no_voice"] else "")
    )
    if result.all_covered and complete:
        typer.echo("every number is covered")
        return
    if counts["fallback_missing"] or counts["fallback_elsewhere"]:
        typer.echo("`backline twilio sync` shows how to point the numbers with a route at backline")
    raise typer.Exit(1)


@app.command("sync")
def sync_command(
    apply: Annotated[
        bool, typer.Option("--apply", help="Make the changes (without it: only show the plan).")
    ] = False,
    number: Annotated[
        list[str] | None,
        typer.Option(
            "--number",
            "-n",
            metavar="NUMBER",
            help="Only this number (repeat for several); default: every number with a route.",
            show_default=False,
        ),
    ] = None,
    subaccounts: Subaccounts = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Point the fallback ("Primary handler fails") of every number that has a route at
    backline, with POST. The primary voice URL is never touched."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.cli.numbers import parse_number
    from backline.core.validation import InvalidValue
    from backline.twilio_account.sync import apply as apply_plan
    from backline.twilio_account.sync import plan

    only: list[str] = []
    try:
        only = [parse_number(value) for value in number or ()]
    except InvalidValue as error:
        fail(str(error))
    survey = _survey(database_url, subaccounts)
    todo = plan(survey.audit, only)
    for line in survey.not_read:
        typer.echo(f"not read: account {line}")
    for phone, reason in todo.skipped:
        typer.echo(f"{phone}: {reason.value}")
    left = []
    if todo.already:
        left.append(f"{_numbers(todo.already)} already fall back to backline")
    if todo.without_route and not only:
        left.append(f"{_numbers(todo.without_route)} without a route left alone")
    if todo.elsewhere_by_app and not only:
        left.append(
            f"{_numbers(todo.elsewhere_by_app)} taking calls through a TwiML App or trunk left "
            "alone (set the fallback there)"
        )
    if not todo.changes:
        typer.echo("nothing to do" + (f": {'; '.join(left)}" if left else ""))
        raise typer.Exit(1 if todo.skipped else 0)
    console = Console(highlight=False)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("NUMBER", no_wrap=True)
    table.add_column("NAME", overflow="fold")
    table.add_column("FALLBACK NOW", overflow="fold")
    table.add_column("WILL BE", overflow="fold")
    new = f"{todo.fallback_url} (POST)"
    for change in todo.changes:
        cells = (change.number.phone_number, change.number.friendly_name, change.before, new)
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    count = len(todo.changes)
    if left:
        typer.echo("; ".join(left))
    if not apply:
        typer.echo(
            f"dry run: nothing changed; add --apply to set the fallback of {_numbers(count)}"
        )
        raise typer.Exit(1 if todo.skipped else 0)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("setting fallbacks"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("sync", total=count)
        applied = apply_plan(
            todo.changes,
            survey.account.set_fallback,
            done=lambda outcome: progress.advance(task),
        )
    for outcome in applied.failed:
        typer.echo(f"failed {outcome.change.number.phone_number}: {outcome.error}")
    waited = survey.account.waited
    if waited:
        times = "once" if len(waited) == 1 else f"{len(waited)} times"
        typer.echo(f"Twilio asked to slow down {times}; waited {sum(waited):.1f} s in all")
    done = sum(1 for outcome in applied.outcomes if outcome.ok)
    summary = f"set the fallback of {done} of {_numbers(count)}"
    if applied.failed:
        summary += f"; {len(applied.failed)} failed"
    if applied.stopped_by is not None:
        summary += f"; stopped, {len(applied.untried)} not tried"
    typer.echo(summary)
    if applied.failed or todo.skipped:
        raise typer.Exit(1)
