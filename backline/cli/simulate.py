"""`backline simulate`: walk a call as Twilio would, printing the TwiML of each step."""

from __future__ import annotations

import typer

from backline.cli._common import config as load_config
from backline.cli._common import fail
from backline.config import ConfigError, normalise_database_url

__all__ = ["register", "simulate"]


def simulate(
    to: str = typer.Option(
        ..., "--to", metavar="NUMBER", help="The Twilio number that was called."
    ),
    from_: str = typer.Option(
        "+819012345678", "--from", metavar="NUMBER", help="The caller's number."
    ),
    outcome: list[str] = typer.Option(
        [],
        "--outcome",
        metavar="OUTCOME",
        help="How each dialled leg ends, in order: completed, busy, no-answer, failed, "
        "canceled (through Twilio's REST API), or caller-hung-up (while it rang).",
    ),
    url: str = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="Base URL of a running backline (records a real call and notifies the team). "
        "Without it the answers are computed in-process and nothing is recorded.",
    ),
    error_code: str = typer.Option(
        "11200", "--error-code", metavar="CODE", help="ErrorCode Twilio would send."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        metavar="URL",
        help="Overrides BACKLINE_DATABASE_URL (in-process only).",
    ),
) -> None:
    """Send correctly signed requests, as Twilio would, and print the TwiML of each step."""
    from backline.cli.numbers import parse_number
    from backline.core.validation import InvalidValue, http_url
    from backline.simulate import VALID_OUTCOMES, run_simulation

    try:
        to = parse_number(to, what="--to")
        if url:
            url = http_url(url, what="--url")
    except InvalidValue as error:
        fail(str(error))
    for item in outcome:
        if item not in VALID_OUTCOMES:
            fail(f"--outcome {item!r} is not one of: {', '.join(VALID_OUTCOMES)}")
    overrides: dict[str, object] = {}
    if database_url:
        try:
            overrides["database_url"] = normalise_database_url(database_url)
        except ConfigError as error:
            fail(str(error))
    config = load_config(**overrides)
    if url and not config.twilio_auth_token:
        typer.echo(
            "note: BACKLINE_TWILIO_AUTH_TOKEN is not set, so only a server in demo mode "
            "will accept these requests",
            err=True,
        )
    try:
        for title, body in run_simulation(
            config, to=to, from_=from_, outcomes=outcome, base_url=url, error_code=error_code
        ):
            typer.echo(f"--- {title}")
            typer.echo(body)
    except OSError as error:
        fail(f"could not reach {url}: {error}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
