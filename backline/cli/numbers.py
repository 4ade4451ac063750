"""`backline numbers ...`: the table of Twilio numbers and where their calls are forwarded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from backline.cli._common import AsJson, DatabaseUrl, audited, fail, print_json, time_shown
from backline.cli._common import config as load_config
from backline.cli._common import engine as open_database
from backline.core import validation
from backline.core.validation import InvalidValue

if TYPE_CHECKING:
    from backline.manage.numbers import NumberEntry

app = typer.Typer(
    help="Add, change, show and remove the Twilio numbers backline forwards, and where to.",
    no_args_is_help=True,
)

Number = Annotated[
    str,
    typer.Argument(
        metavar="NUMBER",
        help="The Twilio number: +815012345678, +81 50-1234-5678, or a national number "
        "(050-1234-5678) with BACKLINE_DEFAULT_REGION set.",
        show_default=False,
    ),
]
_FORWARD_TO_HELP = (
    "Where to forward: an E.164 number or a sip: URI. Repeat for several (at most 10), in the "
    "order they are tried."
)
ForwardTo = Annotated[
    list[str] | None,
    typer.Option("--forward-to", "-f", metavar="DEST", help=_FORWARD_TO_HELP, show_default=False),
]
Mode = Annotated[
    str | None,
    typer.Option(
        "--mode",
        metavar="MODE",
        help="Ring all destinations at once (simultaneous) or one after another (sequential).",
        show_default=False,
    ),
]
RingTimeout = Annotated[
    str | None,
    typer.Option(
        "--ring-timeout",
        metavar="SECONDS",
        help="How long each dial rings, 5 to 600 seconds (when adding: the default-ring-timeout "
        "setting). Twilio adds about 5 s: 20 rings for about 25 s.",
        show_default=False,
    ),
]
Message = Annotated[
    str | None,
    typer.Option(
        "--message",
        metavar="TEXT",
        help="What callers hear when nobody answers (default: the default-message setting).",
    ),
]
Language = Annotated[
    str | None,
    typer.Option(
        "--language",
        metavar="CODE",
        help="Language of the message, such as ja-JP (default: the default-language setting).",
    ),
]
Voice = Annotated[
    str | None,
    typer.Option(
        "--voice",
        metavar="NAME",
        help="Voice of the message, such as Polly.Mizuki (default: the default-voice setting).",
    ),
]
CallerId = Annotated[
    str | None,
    typer.Option(
        "--caller-id",
        metavar="POLICY",
        help="Caller ID the destination sees: twilio-number (the number called, the default), "
        "caller (the original caller; Japanese carriers show it as withheld) or a number.",
        show_default=False,
    ),
]


WhenUnanswered = Annotated[
    str | None,
    typer.Option(
        "--when-unanswered",
        metavar="WHAT",
        help="When nobody answers: apology (the message, then hang up) or voicemail (the "
        "message, an announcement that the caller is recorded, then a recording the team is "
        "told of). Default: the default-when-unanswered setting.",
        show_default=False,
    ),
]
VoicemailMaxLength = Annotated[
    str | None,
    typer.Option(
        "--voicemail-max-length",
        metavar="SECONDS",
        help="The longest voicemail, 5 to 3600 s (default: the voicemail-max-length setting).",
        show_default=False,
    ),
]
Transcribe = Annotated[
    bool | None,
    typer.Option(
        "--transcribe/--no-transcribe",
        help="Have Twilio transcribe voicemails (a paid Twilio feature; at most 2 minutes).",
        show_default=False,
    ),
]
Screen = Annotated[
    bool | None,
    typer.Option(
        "--screen/--no-screen",
        help="Screen calls: whoever picks up hears whose call it is and presses 1 to take it; "
        "no key or another key ends that leg, so a mobile's voicemail cannot take the call.",
        show_default=False,
    ),
]
AnswerOnBridge = Annotated[
    bool | None,
    typer.Option(
        "--answer-on-bridge/--no-answer-on-bridge",
        help="Answer the caller only when a destination answers: the caller hears ringing, "
        "and is not billed while it rings (on by default with --screen).",
        show_default=False,
    ),
]
RingTone = Annotated[
    str | None,
    typer.Option(
        "--ring-tone",
        metavar="CODE",
        help="The ringback the caller hears while destinations ring: jp, us, uk, de, ...",
        show_default=False,
    ),
]
Hours = Annotated[
    list[str] | None,
    typer.Option(
        "--hours",
        metavar="SPEC",
        help="Office hours, such as 'mon-fri 09:00-18:00'; repeat for more ('sat 09:00-12:00'). "
        "Outside them calls get the --when-closed treatment. Replaces the hours given before.",
        show_default=False,
    ),
]
TimeZone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help="The zone the hours are in, such as Asia/Tokyo (default: the default-timezone "
        "setting).",
        show_default=False,
    ),
]
ClosedOn = Annotated[
    list[str] | None,
    typer.Option(
        "--closed-on",
        metavar="YYYY-MM-DD",
        help="A day closed all day; repeat for more. Replaces the days given before.",
        show_default=False,
    ),
]
Holidays = Annotated[
    str | None,
    typer.Option(
        "--holidays",
        metavar="COUNTRY",
        help="Closed on the public holidays of a country, such as JP (or US-CA for a state).",
        show_default=False,
    ),
]
WhenClosed = Annotated[
    str | None,
    typer.Option(
        "--when-closed",
        metavar="WHAT",
        help="Outside the hours: apology, voicemail, or forward:NUMBER "
        "(default: the default-when-closed setting).",
        show_default=False,
    ),
]
ClosedMessage = Annotated[
    str | None,
    typer.Option(
        "--closed-message",
        metavar="TEXT",
        help="What callers hear outside the hours (default: the number's message).",
        show_default=False,
    ),
]
# `numbers update --reset FIELD`: the fields that may go back to their setting (or to none).
RESETTABLE = (
    "when-unanswered",
    "voicemail-max-length",
    "transcribe",
    "screen",
    "answer-on-bridge",
    "ring-tone",
    "hours",
    "timezone",
    "closed-on",
    "holidays",
    "when-closed",
    "closed-message",
)
Reset = Annotated[
    list[str] | None,
    typer.Option(
        "--reset",
        metavar="FIELD",
        help=f"Go back to the setting (or to none) for a field; repeatable. Fields: "
        f"{', '.join(RESETTABLE)}.",
        show_default=False,
    ),
]


NewClient = Annotated[
    bool,
    typer.Option(
        "--new-client",
        help="Create the --client if there is no client of that name (in any case). Without "
        "it an unknown name is refused, so that a typo never makes a second client.",
    ),
]
_UNKNOWN_CLIENT_HINT = ": check `backline clients list`, or add --new-client to create it"


def _on(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


def _seconds(value: int | None) -> str | None:
    return None if value is None else f"{value} s"


def _region() -> str:
    return load_config().default_region


def _told(note: str | None) -> None:
    if note:
        typer.echo(note, err=True)


def parse_number(value: str, what: str = "number") -> str:
    """A number as typed, read with the phone number library; its note goes to stderr."""
    from backline.manage.phones import parse_number as parse

    parsed = parse(value, region=_region(), what=what)
    _told(parsed.note)
    return parsed.value


def parse_destinations(values: list[str], number: str) -> tuple[str, ...]:
    from backline.manage.phones import parse_destination

    region = _region()
    parsed = [parse_destination(value, region=region) for value in values]
    for item in parsed:
        _told(item.note)
    return tuple(item.value for item in parsed)


def parse_caller_id(value: str) -> str:
    """A policy (checked by the table) or a number, read as people type it."""
    if value.strip().lower() in validation.CALLER_ID_POLICIES:
        return value
    return parse_number(value, what="caller ID")


def _note_sip_in_simultaneous(destinations: tuple[str, ...], mode: str) -> None:
    if (
        mode == "simultaneous"
        and len(destinations) > 1
        and any(map(validation.is_sip, destinations))
    ):
        typer.echo(
            "note: Twilio cannot ring a sip: destination together with anything else, so each "
            "sip: destination rings on its own, in list order, after the ones before it",
            err=True,
        )


def _note_caller_policy(policy: str) -> None:
    if policy == "caller":
        typer.echo(
            "warning: with --caller-id caller the destination is shown the original caller's "
            "number; Japanese carriers show such forwarded calls as withheld (非通知), since "
            "the number is not one of this Twilio account's. Keep twilio-number for Japan.",
            err=True,
        )


def _summary(entry: NumberEntry) -> str:
    details = [entry.mode, f"{entry.ring_timeout} s"]
    if entry.client:
        details.append(f"client {entry.client}")
    if entry.when_unanswered == "voicemail":
        details.append("voicemail")
    if entry.screen:
        details.append("screened")
    if entry.has_hours:
        details.append("office hours")
    if not entry.enabled:
        details.append("disabled")
    return f"{entry.number} -> {', '.join(entry.destinations)} ({', '.join(details)})"


def parse_when_closed(value: str, number: str) -> str:
    """apology / voicemail / forward:NUMBER, the number read as people type it."""
    kind, colon, target = value.strip().partition(":")
    if colon and kind.strip().lower() == "forward" and target.strip():
        (parsed,) = parse_destinations([target], number)
        return f"forward:{parsed}"
    return value


def handling(number: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The handling options given, checked (every one before the database is opened); those
    not given are left out."""
    from backline.manage.numbers import check_fields

    # An empty list (an option repeated zero times) is "not given", like None.
    wanted = {name: value for name, value in given.items() if value is not None and value != []}
    if "when_closed" in wanted:
        wanted["when_closed"] = parse_when_closed(wanted["when_closed"], number)
    return check_fields(number, wanted)


def _note_handling(entry: NumberEntry) -> None:
    """What the operator may not expect from the handling they set."""
    if entry.when_closed and not entry.has_hours:
        typer.echo(
            "note: --when-closed applies only outside the number's hours, and it has none: "
            "give --hours, --closed-on or --holidays",
            err=True,
        )
    if (
        entry.transcribe
        and (entry.voicemail_max_length or 0) > validation.TRANSCRIPTION_MAX_SECONDS
    ):
        typer.echo(
            f"note: Twilio transcribes voicemails of at most "
            f"{validation.TRANSCRIPTION_MAX_SECONDS} s; longer ones are recorded, not transcribed",
            err=True,
        )
    if entry.transcribe and (entry.language or "").lower() != "en-us":
        typer.echo(
            "note: Twilio transcribes voicemails in American English (en-US) only; "
            f"in {entry.language or 'the default language'} a message is recorded, but its "
            "transcription is wrong or empty",
            err=True,
        )
    if entry.screen and all(map(validation.is_sip, entry.destinations)):
        typer.echo(
            "note: screening plays its whisper on phone numbers; sip: destinations are not "
            "screened",
            err=True,
        )


@app.command("add")
def add(
    number: Number,
    forward_to: ForwardTo = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", metavar="NAME", help="The client it belongs to (matched in any case)."
        ),
    ] = None,
    new_client: NewClient = False,
    mode: Mode = None,
    ring_timeout: RingTimeout = None,
    message: Message = None,
    language: Language = None,
    voice: Voice = None,
    caller_id: CallerId = None,
    disabled: Annotated[
        bool,
        typer.Option(
            "--disabled", help="Add it switched off: callers hear the message, nothing rings."
        ),
    ] = False,
    when_unanswered: WhenUnanswered = None,
    voicemail_max_length: VoicemailMaxLength = None,
    transcribe: Transcribe = None,
    screen: Screen = None,
    answer_on_bridge: AnswerOnBridge = None,
    ring_tone: RingTone = None,
    hours: Hours = None,
    timezone: TimeZone = None,
    closed_on: ClosedOn = None,
    holidays: Holidays = None,
    when_closed: WhenClosed = None,
    closed_message: ClosedMessage = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a Twilio number and the destinations its diverted calls are forwarded to."""
    from backline.manage.clients import find_client
    from backline.manage.errors import ManageError, UnknownClient
    from backline.manage.numbers import add_number, check_fields

    if not forward_to:
        fail("give at least one destination with --forward-to")
    try:
        # Check every value before touching the database: a typo never needs a connection.
        number = parse_number(number)
        destinations = parse_destinations(forward_to, number)
        fields = check_fields(
            number,
            {
                "destinations": destinations,
                "mode": mode or "simultaneous",
                "ring_timeout": ring_timeout,
                "caller_id": parse_caller_id(caller_id or "twilio-number"),
                "message": message,
                "language": language,
                "voice": voice,
                "client": client,
            },
        )
        owner = fields.pop("client")
        extras = handling(
            number,
            {
                "when_unanswered": when_unanswered,
                "voicemail_max_length": voicemail_max_length,
                "transcribe": transcribe,
                "screen": screen,
                "answer_on_bridge": answer_on_bridge,
                "ring_tone": ring_tone,
                "hours": hours,
                "timezone": timezone,
                "closed_on": closed_on,
                "holidays": holidays,
                "when_closed": when_closed,
                "closed_message": closed_message,
            },
        )
        with audited(database_url) as changes:
            engine = changes.engine
            known = None if owner is None else find_client(engine, owner)
            entry = add_number(
                engine,
                number,
                fields.pop("destinations"),
                client=owner,
                **fields,
                enabled=not disabled,
                new_client=new_client,
                **extras,
            )
            changes.record("number.add", entry.number, None, entry.to_json())
    except UnknownClient as error:
        fail(f"{error}{_UNKNOWN_CLIENT_HINT}")
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if owner is not None and known is None:
        typer.echo(f"added client {entry.client}")
    _note_sip_in_simultaneous(entry.destinations, entry.mode)
    _note_caller_policy(entry.caller_id)
    _note_handling(entry)
    typer.echo(f"added {_summary(entry)}")


def _flag(name: str, help_text: str) -> Any:
    return typer.Option(name, help=help_text)


@app.command("update")
def update(
    number: Number,
    forward_to: ForwardTo = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client", metavar="NAME", help="Move it to this client (matched in any case)."
        ),
    ] = None,
    new_client: NewClient = False,
    no_client: Annotated[bool, _flag("--no-client", "Detach it from its client.")] = False,
    mode: Mode = None,
    ring_timeout: RingTimeout = None,
    message: Message = None,
    no_message: Annotated[
        bool, _flag("--no-message", "Use the default-message setting again.")
    ] = False,
    language: Language = None,
    no_language: Annotated[
        bool, _flag("--no-language", "Use the default-language setting again.")
    ] = False,
    voice: Voice = None,
    no_voice: Annotated[bool, _flag("--no-voice", "Use the default-voice setting again.")] = False,
    caller_id: CallerId = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Switch forwarding on or off.", show_default=False),
    ] = None,
    when_unanswered: WhenUnanswered = None,
    voicemail_max_length: VoicemailMaxLength = None,
    transcribe: Transcribe = None,
    screen: Screen = None,
    answer_on_bridge: AnswerOnBridge = None,
    ring_tone: RingTone = None,
    hours: Hours = None,
    timezone: TimeZone = None,
    closed_on: ClosedOn = None,
    holidays: Holidays = None,
    when_closed: WhenClosed = None,
    closed_message: ClosedMessage = None,
    reset: Reset = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a number: only the options given change, the rest stays as it is."""
    from backline.manage.errors import ManageError, UnknownClient
    from backline.manage.numbers import KEEP, Keep, change_number, check_fields, field_changes

    resets: list[str] = []
    for field in reset or ():
        name = field.strip().lower().replace("_", "-").removeprefix("--")
        if name not in RESETTABLE:
            fail(f"--reset {field!r}: the fields that can be reset are {', '.join(RESETTABLE)}")
        resets.append(name.replace("-", "_"))
    given_handling: dict[str, Any] = {
        "when_unanswered": when_unanswered,
        "voicemail_max_length": voicemail_max_length,
        "transcribe": transcribe,
        "screen": screen,
        "answer_on_bridge": answer_on_bridge,
        "ring_tone": ring_tone,
        "hours": hours,
        "timezone": timezone,
        "closed_on": closed_on,
        "holidays": holidays,
        "when_closed": when_closed,
        "closed_message": closed_message,
    }
    for name in resets:
        if given_handling[name] is not None:
            shown = name.replace("_", "-")
            fail(f"give --{shown} or --reset {shown}, not both")

    for name, value, clear in (
        ("client", client, no_client),
        ("message", message, no_message),
        ("language", language, no_language),
        ("voice", voice, no_voice),
    ):
        if value is not None and clear:
            fail(f"give --{name} or --no-{name}, not both")
    given = (forward_to, client, mode, ring_timeout, message, language, voice, caller_id, enabled)
    if (
        all(value is None for value in (*given, *given_handling.values()))
        and not (no_client or no_message or no_language or no_voice)
        and not resets
    ):
        fail("nothing to change: give at least one option (see --help)")
    keep = KEEP

    def optional(value: str | None, clear: bool) -> str | Keep | None:
        if clear:
            return None
        return keep if value is None else value

    try:
        number = parse_number(number)
        fields = check_fields(
            number,
            {
                "destinations": keep if not forward_to else parse_destinations(forward_to, number),
                "client": optional(client, no_client),
                "message": optional(message, no_message),
                "language": optional(language, no_language),
                "voice": optional(voice, no_voice),
                "mode": keep if mode is None else mode,
                "ring_timeout": keep if ring_timeout is None else ring_timeout,
                "caller_id": keep if caller_id is None else parse_caller_id(caller_id),
            },
        )
        extras: dict[str, Any] = handling(number, given_handling)
        extras.update({name: None for name in resets})
        # Every value is checked by now; only then is the database opened.
        from backline.manage.audit import differs

        with audited(database_url) as changes:
            change = change_number(
                changes.engine,
                number,
                enabled=keep if enabled is None else enabled,
                new_client=new_client,
                **fields,
                **extras,
            )
            before, after = change.before.to_json(), change.after.to_json()
            if differs(before, after):
                changes.record("number.update", change.after.number, before, after)
    except UnknownClient as error:
        fail(f"{error}{_UNKNOWN_CLIENT_HINT}")
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if change.new_client:
        typer.echo(f"added client {change.after.client}")
    if forward_to or mode is not None:
        _note_sip_in_simultaneous(change.after.destinations, change.after.mode)
    if caller_id is not None:
        _note_caller_policy(change.after.caller_id)
    if any(value is not None for value in given_handling.values()):
        _note_handling(change.after)
    changed = field_changes(change.before, change.after)
    if not changed:
        typer.echo(f"nothing changed: {_summary(change.after)}")
        return
    typer.echo(f"updated {_summary(change.after)}")
    width = max(len(label) for label, _, _ in changed)
    for label, was, now in changed:
        typer.echo(f"  {label + ':':<{width + 1}} {was} -> {now}")


@app.command("show")
def show(number: Number, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Show one number, with the defaults that apply where it sets nothing of its own."""
    from backline.manage.errors import ManageError
    from backline.manage.numbers import get_number
    from backline.manage.settings import get_settings
    from backline.store.calls import defaults_from_settings

    try:
        number = parse_number(number)
        engine = open_database(database_url)
        entry = get_number(engine, number)
        defaults = defaults_from_settings(get_settings(engine))
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if as_json:
        print_json(entry.to_json())
        return

    shown = time_shown()

    def own_or_default(value: str | None, default: str | None) -> str:
        return value if value is not None else f"{default or '(Twilio chooses)'} (default)"

    from backline.core.models import Route
    from backline.core.planner import route_say

    # What the apology really is: a route's language picks its own default voice, and so on.
    say = route_say(
        Route(
            entry.number,
            entry.destinations,
            message=entry.message,
            language=entry.language,
            voice=entry.voice,
        ),
        defaults,
    )

    def own_flag(value: bool | None, default: bool) -> str:
        return _on(value) or f"{_on(default)} (default)"

    voicemail = (entry.when_unanswered or defaults.when_unanswered) == "voicemail"
    lines = [
        ("number", entry.number),
        ("client", entry.client or "-"),
        ("forward to", ", ".join(entry.destinations)),
        ("mode", entry.mode),
        ("ring timeout", f"{entry.ring_timeout} s (Twilio rings about 5 s more)"),
        ("caller ID", entry.caller_id),
        ("message", own_or_default(entry.message, say.text)),
        ("language", own_or_default(entry.language, say.language)),
        ("voice", own_or_default(entry.voice, say.voice)),
        ("status", "enabled" if entry.enabled else "disabled"),
        ("when unanswered", own_or_default(entry.when_unanswered, defaults.when_unanswered)),
    ]
    if voicemail or entry.voicemail_max_length is not None or entry.transcribe is not None:
        lines += [
            (
                "voicemail max length",
                own_or_default(
                    _seconds(entry.voicemail_max_length), f"{defaults.voicemail_max_length} s"
                ),
            ),
            ("transcribe", own_flag(entry.transcribe, defaults.transcribe)),
        ]
    screened = entry.screen if entry.screen is not None else defaults.screen
    bridge_default = defaults.answer_on_bridge or screened
    lines += [
        ("screen", own_flag(entry.screen, defaults.screen)),
        ("answer on bridge", own_flag(entry.answer_on_bridge, bridge_default)),
        ("ring tone", own_or_default(entry.ring_tone, defaults.ring_tone or "Twilio's (us)")),
        ("hours", "; ".join(entry.hours) if entry.hours else "-"),
    ]
    if entry.has_hours:
        zone = entry.timezone or defaults.timezone
        through = f" (dates through {entry.holiday_dates[-1]})" if entry.holiday_dates else ""
        lines += [
            ("time zone", own_or_default(entry.timezone, defaults.timezone)),
            ("closed on", ", ".join(entry.closed_on) if entry.closed_on else "-"),
            ("holidays", f"{entry.holidays}{through}" if entry.holidays else "-"),
            ("when closed", own_or_default(entry.when_closed, defaults.when_closed)),
            ("closed message", entry.closed_message or "(the message)"),
            ("now", _open_now(entry, zone)),
        ]
    lines += [
        ("added", shown(entry.created_at)),
        ("updated", shown(entry.updated_at)),
    ]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        typer.echo(f"{label:<{width}}  {value}")


def _open_now(entry: NumberEntry, zone: str) -> str:
    """Whether the number is open at this moment, as the answer path would decide it."""
    import json
    import time

    from backline.core.hours import is_open
    from backline.store.calls import schedule_of

    schedule = schedule_of(
        json.dumps(list(entry.hours)),
        zone,
        json.dumps(list(entry.closed_on)),
        json.dumps(list(entry.holiday_dates)),
        zone,
    )
    return "open" if is_open(schedule, time.time()) else "closed (calls get the closed treatment)"


@app.command("refresh-holidays")
def refresh_holidays(database_url: DatabaseUrl = None) -> None:
    """Compute the public holidays of every number with --holidays again, for this year and
    the next five (run it each year, and after upgrading backline)."""
    from backline.manage.errors import ManageError
    from backline.manage.numbers import refresh_holidays

    try:
        with audited(database_url) as changes:
            refreshed = refresh_holidays(changes.engine)
            if refreshed:
                after = [list(r) for r in refreshed]
                changes.record("number.refresh-holidays", "", None, after)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if not refreshed:
        typer.echo("no number has --holidays")
        return
    for number, country, last in refreshed:
        typer.echo(f"{number}: {country} holidays through {last}")


@app.command("list")
def list_(
    client: Annotated[
        str | None,
        typer.Option("--client", metavar="NAME", help="Only the numbers of this client."),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List the numbers, in number order."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backline.manage.errors import ManageError
    from backline.manage.numbers import list_numbers

    try:
        entries = list_numbers(open_database(database_url), client)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        if client is not None:
            typer.echo(f"client {client!r} has no numbers")
        else:
            typer.echo(
                "no numbers yet; add one with `backline numbers add NUMBER --forward-to DEST`"
            )
        return
    # Caller ID and message are left to `numbers show`: the table has to fit 80 columns.
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("NUMBER", no_wrap=True)
    table.add_column("CLIENT", min_width=6, overflow="fold")
    table.add_column("FORWARD TO", min_width=13, overflow="fold")
    table.add_column("MODE", no_wrap=True)
    table.add_column("RING", justify="right", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    for entry in entries:
        cells = (
            entry.number,
            entry.client or "-",
            "\n".join(entry.destinations),
            entry.mode,
            f"{entry.ring_timeout} s",
            "enabled" if entry.enabled else "disabled",
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: no markup in names
    Console(highlight=False).print(table)


@app.command("remove")
def remove(number: Number, database_url: DatabaseUrl = None) -> None:
    """Remove a number: its diverted calls then get the default treatment (or the catch-all)."""
    from backline.manage.errors import ManageError
    from backline.manage.numbers import remove_number

    try:
        number = parse_number(number)
        with audited(database_url) as changes:
            entry = remove_number(changes.engine, number)
            changes.record("number.remove", entry.number, entry.to_json(), None)
    except (InvalidValue, ManageError) as error:
        fail(str(error))
    typer.echo(f"removed {entry.number} (was forwarded to {', '.join(entry.destinations)})")
