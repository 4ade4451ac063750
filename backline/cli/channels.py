"""`backline channels ...`: where the team is told of diverted calls."""

from __future__ import annotations

from typing import Literal

import typer

from backline.cli._common import AsJson, DatabaseUrl, config, fail, print_json
from backline.cli._common import engine as open_database

app = typer.Typer(
    help="Where the team is told: Slack, SMS, e-mail, webhooks.", no_args_is_help=True
)


@app.command("add")
def add(
    kind: str = typer.Argument(..., help="slack, sms, email or webhook."),
    target: str = typer.Argument(
        ..., help="The webhook URL, the phone number (+81...), or the e-mail address."
    ),
    client: str = typer.Option(None, "--client", help="Only this client's calls (default: all)."),
    name: str = typer.Option(None, "--name", help="A label to recognise the channel by."),
    sender: str = typer.Option(None, "--from", help="sms: the Twilio number to send from."),
    secret: str = typer.Option(
        None, "--secret", help="webhook: the signing secret (default: a random one)."
    ),
    database_url: DatabaseUrl = None,
) -> None:
    """Add a channel. Slack: an incoming-webhook URL (Mattermost's works too)."""
    from backline.core.validation import InvalidValue
    from backline.notify.admin import add_channel

    try:
        entry = add_channel(
            open_database(database_url),
            kind,
            target,
            client=client,
            label=name,
            sender=sender,
            secret=secret,
        )
    except InvalidValue as error:
        fail(str(error))
    except Exception as error:
        fail(f"could not add the channel: {error}")
    scope = f"client {entry.spec.client}" if entry.spec.client else "every call"
    typer.echo(f"added channel #{entry.spec.id} ({entry.spec.kind}, {scope})")
    if entry.spec.kind == "webhook":
        typer.echo(f"signing secret: {entry.spec.options['secret']}")
        typer.echo("  (receivers verify X-Backline-Signature with it; see docs/notifications.md)")
    typer.echo(f"try it: backline channels test {entry.spec.id}")


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """The channels, with each one's last success and failure."""
    from backline.notify.admin import list_channels
    from backline.notify.channels import redacted

    try:
        entries = list_channels(open_database(database_url))
    except Exception as error:
        fail(f"could not read the channels: {error}")
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        typer.echo("no channels: add one with `backline channels add slack URL`")
        return
    for entry in entries:
        spec = entry.spec
        state = f"FAILING since {entry.failing_since}: {spec.failing}" if spec.failing else "ok"
        typer.echo(
            # Webhook URLs are secrets (whoever has one can post): show their host only.
            f"#{spec.id} {spec.kind} {redacted(spec)}"
            + (f" name={spec.label!r}" if spec.label else "")
            + f" client={spec.client or '(all)'}"
        )
        typer.echo(
            f"    {state}; last success {entry.last_success_at or 'never'}; "
            f"last failure {entry.last_failure_at or 'never'}; pending {entry.pending}"
        )
        if entry.last_result:
            typer.echo(f"    last answer: {entry.last_result}")


@app.command("remove")
def remove(
    channel_id: int = typer.Argument(..., help="The channel's number."),
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a channel (and what was still waiting to be sent to it)."""
    from backline.notify.admin import NoSuchChannel, remove_channel
    from backline.notify.channels import describe

    try:
        entry = remove_channel(open_database(database_url), channel_id)
    except NoSuchChannel as error:
        fail(str(error))
    typer.echo(f"removed channel {describe(entry.spec)}")


@app.command("test")
def send_test(
    channel_id: int = typer.Argument(..., help="The channel's number."),
    database_url: DatabaseUrl = None,
) -> None:
    """Send a clearly marked test message now and show what the receiver answered."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import channel_test_message
    from backline.notify.admin import NoSuchChannel, get_channel, record_test
    from backline.notify.channels import DeliveryError, describe, transport_for
    from backline.store.database import utc_now

    settings = config()
    engine = open_database(database_url)
    try:
        entry = get_channel(engine, channel_id)
    except NoSuchChannel as error:
        fail(str(error))
    language: Literal["ja", "en"] = "en" if settings.notify_language == "en" else "ja"
    message = channel_test_message(
        describe(entry.spec), ZoneInfo(settings.notify_timezone), language, at=utc_now()
    )
    try:
        receipt = transport_for(entry.spec, settings).send(message, f"test:{channel_id}")
    except DeliveryError as error:
        record_test(engine, channel_id, ok=False, result=error.detail)
        kind = "permanent" if error.permanent else "temporary"
        fail(f"channel #{channel_id} failed ({kind}): {error.detail}", code=1)
    record_test(engine, channel_id, ok=True, result=receipt)
    typer.echo(f"channel #{channel_id} answered: {receipt}")
    if entry.spec.failing:
        typer.echo("it was marked failing; it is back in use")
