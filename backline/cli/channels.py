"""`backline channels ...`: where the team is told of diverted calls."""

from __future__ import annotations

import typer

from backline.cli._common import AsJson, DatabaseUrl, audited, config, fail, print_json, time_shown
from backline.cli._common import engine as open_database
from backline.notify.channels.kinds import KINDS

app = typer.Typer(
    help=f"Where the team is told: {', '.join(kind.label for kind in KINDS.values())}.",
    no_args_is_help=True,
)

ChannelId = typer.Argument(
    ..., metavar="ID", help="The channel's number, as `channels list` shows it (3 or #3)."
)


def _channel_id(text: str) -> int:
    """The channel number typed: ``3`` or ``#3`` (as lists show it); anything else is refused
    in a sentence, not a parser's error."""
    digits = text.strip().removeprefix("#")
    if not digits.isascii() or not digits.isdigit() or int(digits) == 0:
        fail(f"{text!r} is not a channel number: give the number `backline channels list` shows")
    return int(digits)


def _needs(kind: str, missing: tuple[str, ...]) -> str:
    row = KINDS.get(kind)
    return f"{row.label if row else kind} needs {', '.join(missing)}"


def _one_of(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _option_help(key: str) -> str:
    for kind in KINDS.values():
        option = kind.option(key)
        if option is not None:
            return f"{kind.name}: {option.help}"
    raise LookupError(key)


@app.command("add")
def add(
    kind: str = typer.Argument(..., metavar="KIND", help=_one_of([*KINDS]) + "."),
    target: str = typer.Argument(
        ...,
        metavar="TARGET",
        help="; ".join(f"{kind.name}: {kind.target}" for kind in KINDS.values()) + ".",
    ),
    client: str = typer.Option(
        None, "--client", metavar="NAME", help="Only this client's calls (default: all)."
    ),
    name: str = typer.Option(
        None, "--name", metavar="LABEL", help="A label to recognise the channel by."
    ),
    sender: str = typer.Option(None, "--from", metavar="NUMBER", help=_option_help("from")),
    secret: str = typer.Option(None, "--secret", metavar="SECRET", help=_option_help("secret")),
    database_url: DatabaseUrl = None,
) -> None:
    """Add a channel."""
    from backline.core.validation import InvalidValue
    from backline.manage.channels import add_channel
    from backline.notify.channels.kinds import missing_settings

    settings = config()
    try:
        with audited(database_url) as changes:
            entry = add_channel(
                changes.engine,
                kind,
                target,
                client=client,
                label=name,
                sender=sender,
                secret=secret,
                allow_private=config().allow_private_channels,
            )
            changes.record("channel.add", f"#{entry.spec.id}", None, entry.to_json())
    except InvalidValue as error:
        fail(str(error))
    except Exception as error:
        fail(f"could not add the channel: {error}")
    scope = f"client {entry.spec.client}" if entry.spec.client else "every call"
    typer.echo(f"added channel #{entry.spec.id} ({entry.spec.kind}, {scope})")
    if entry.spec.kind == "webhook":
        typer.echo(f"signing secret: {entry.spec.options['secret']}")
        typer.echo("  (receivers verify X-Backline-Signature with it; see docs/notifications.md)")
    missing = missing_settings(entry.spec, settings)
    if missing:
        # Not refused: the process that sends (serve or worker) may have an environment of its
        # own. But said now, not at the first real call.
        typer.echo(
            f"warning: {_needs(entry.spec.kind, missing)}, which this environment does not "
            "set: the channel cannot send until the process that sends (serve or worker) has "
            "them",
            err=True,
        )
    typer.echo(f"try it: backline channels test {entry.spec.id}")


@app.command("list")
def list_(
    as_json: AsJson = False,
    show_secrets: bool = typer.Option(
        False,
        "--show-secrets",
        help=f"Show whole {' and '.join(k.label for k in KINDS.values() if k.secret_target)} "
        "URLs and webhook signing secrets (anyone who has them can post to the channel).",
    ),
    database_url: DatabaseUrl = None,
) -> None:
    """The channels, with each one's last success and failure."""
    from backline.manage.channels import list_channels
    from backline.notify.channels.kinds import redacted

    try:
        entries = list_channels(open_database(database_url))
    except Exception as error:
        fail(f"could not read the channels: {error}")
    if as_json:
        print_json([entry.to_json(reveal=show_secrets) for entry in entries])
        return
    if not entries:
        typer.echo("no channels: add one with `backline channels add slack URL`")
        return
    shown = time_shown()

    def when(at: str | None) -> str:
        return shown(at) if at else "never"

    for entry in entries:
        spec = entry.spec
        match entry.status:
            case "failing":
                state = f"FAILING since {when(entry.failing_since)}: {spec.failing}"
            case "failed":
                state = "LAST DELIVERY FAILED (tried again later)"
            case _:
                state = "ok"
        typer.echo(
            # Webhook URLs are secrets (whoever has one can post): show their host only.
            f"#{spec.id} {spec.kind} {spec.target if show_secrets else redacted(spec)}"
            + (f" name={spec.label!r}" if spec.label else "")
            + f" client={spec.client or '(all)'}"
            + (
                f" secret={spec.options['secret']}"
                if show_secrets and "secret" in spec.options
                else ""
            )
        )
        typer.echo(
            f"    {state}; last success {when(entry.last_success_at)}; "
            f"last failure {when(entry.last_failure_at)}; pending {entry.pending}"
        )
        if entry.last_result:
            typer.echo(f"    last answer: {entry.last_result}")
        if entry.dead:
            typer.echo(
                f"    GIVEN UP: {entry.dead} notification(s), the latest at {entry.last_dead_at}: "
                f"{entry.last_dead_reason}"
            )


@app.command("remove")
def remove(
    channel_id: str = ChannelId,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a channel (and what was still waiting to be sent to it)."""
    from backline.manage.channels import remove_channel
    from backline.manage.errors import ManageError, NoSuchChannel
    from backline.notify.channels import describe

    number = _channel_id(channel_id)
    try:
        with audited(database_url) as changes:
            entry = remove_channel(changes.engine, number)
            changes.record("channel.remove", f"#{entry.spec.id}", entry.to_json(), None)
    except (NoSuchChannel, ManageError) as error:
        fail(str(error))
    typer.echo(f"removed channel {describe(entry.spec)}")


def _record_test(database_url: str | None, channel_id: int, result: dict[str, object]) -> None:
    """A test sent, in the audit log (the message is out whatever the log says)."""
    from backline.manage.errors import ManageError

    try:
        with audited(database_url) as changes:
            changes.record("channel.test", f"#{channel_id}", None, result)
    except ManageError as error:
        typer.echo(f"warning: the test is not in the audit log: {error}", err=True)


@app.command("test")
def send_test(
    channel_id: str = ChannelId,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a clearly marked test message now and show what the receiver answered."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import channel_test_message
    from backline.manage.channels import get_channel, record_test
    from backline.manage.errors import NoSuchChannel
    from backline.notify.channels import DeliveryError, describe
    from backline.notify.channels.kinds import missing_settings, transport_for
    from backline.store.database import utc_now

    channel_id_number = _channel_id(channel_id)
    settings = config()
    engine = open_database(database_url)
    try:
        entry = get_channel(engine, channel_id_number)
    except NoSuchChannel as error:
        fail(str(error))
    missing = missing_settings(entry.spec, settings)
    if missing:
        # This environment's gap, not the channel's fault: nothing is sent or recorded.
        fail(
            f"cannot test channel #{entry.spec.id} here: {_needs(entry.spec.kind, missing)} "
            "(set them here as where notifications are sent)"
        )
    language = settings.notify_language
    message = channel_test_message(
        describe(entry.spec), ZoneInfo(settings.timezone), language, at=utc_now()
    )
    try:
        receipt = transport_for(entry.spec, settings).send(message, f"test:{channel_id_number}")
    except DeliveryError as error:
        record_test(engine, channel_id_number, ok=False, result=error.detail)
        _record_test(database_url, channel_id_number, {"ok": False, "result": error.detail})
        kind = "permanent" if error.permanent else "temporary"
        fail(f"channel #{channel_id_number} failed ({kind}): {error.detail}", code=1)
    record_test(engine, channel_id_number, ok=True, result=receipt)
    _record_test(database_url, channel_id_number, {"ok": True, "result": receipt})
    typer.echo(f"channel #{channel_id_number} answered: {receipt}")
    if entry.spec.failing:
        typer.echo("it was marked failing; it is back in use")
