"""The values the planner works on. Plain frozen dataclasses: cheap to build, safe to share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # Only a route with hours holds one; the answer path imports backline.core.hours then.
    from backline.core.hours import Schedule

Mode = Literal["simultaneous", "sequential"]
# What a caller gets when nobody answers: the route's message, or the message and a voicemail.
WhenUnanswered = Literal["apology", "voicemail"]
WHEN_UNANSWERED: tuple[WhenUnanswered, ...] = ("apology", "voicemail")

# What finally happened to a diverted call, as recorded and reported.
#   forwarding  a <Dial> is under way (no outcome yet)
#   answered    a destination picked up
#   busy / no-answer / failed   the last destination tried did not connect; the apology played
#   caller-hung-up  the caller hung up while a destination rang; nothing more was dialled
#   canceled    the ringing leg was cancelled through Twilio's REST API (by some other program)
#   unrouted    nothing to dial (unknown or disabled number, no catch-all); the apology played
#   voicemail   nobody answered (or the number was closed): the caller was asked for a message
#   closed      outside the number's hours: nothing was dialled, the closed message played
Outcome = Literal[
    "forwarding",
    "answered",
    "busy",
    "no-answer",
    "failed",
    "caller-hung-up",
    "canceled",
    "unrouted",
    "voicemail",
    "closed",
]
FINAL_OUTCOMES: frozenset[str] = frozenset(
    {
        "answered",
        "busy",
        "no-answer",
        "failed",
        "caller-hung-up",
        "canceled",
        "unrouted",
        "voicemail",
        "closed",
    }
)

# Which table entry the answer came from, kept on the call record for the team. "closed": the
# number's own entry, outside its hours (its closed treatment was given).
RouteKind = Literal["route", "catch-all", "disabled", "unknown", "last-resort", "closed"]

# The apology of the seed system, now with a language and a voice that can speak it.
BUILT_IN_MESSAGE = (
    "ただいまお電話が大変込み合っております。しばらくたってから、おかけ直し下さいませ。"
)
BUILT_IN_LANGUAGE = "ja-JP"
BUILT_IN_VOICE = "Polly.Mizuki"
DEFAULT_RING_TIMEOUT = 30
DEFAULT_TIMEZONE = "Asia/Tokyo"
# Two minutes: long enough for a message, and the longest Twilio transcribes.
DEFAULT_VOICEMAIL_MAX_LENGTH = 120
# How long the person who picked up a screened call has to press the key, after the whisper.
WHISPER_TIMEOUT = 5
# The key that ends a voicemail, and the key that takes a screened call.
END_KEY = "#"
ACCEPT_KEY = "1"

# `backline drill` marks its requests with a CallSid of its own form. Twilio's are "CA" and 32
# hex digits, so a CallSid starting with this prefix (lowercase, with a hyphen) is never a real
# call. A drill is answered exactly like a call but recorded nowhere: no call row, no event, so
# no statistics, no outage grouping and no message to the team. Requests are signed like any
# other, so the mark gives a forger nothing: an unsigned drill is refused with 403.
DRILL_CALL_SID_PREFIX = "drill-"


def is_drill(call_sid: str) -> bool:
    return call_sid.startswith(DRILL_CALL_SID_PREFIX)


@dataclass(frozen=True, slots=True)
class Route:
    """One Twilio number's forwarding, as configured in the table of numbers."""

    number: str
    destinations: tuple[str, ...]
    mode: Mode = "simultaneous"
    ring_timeout: int = DEFAULT_RING_TIMEOUT
    caller_id: str = "twilio-number"
    message: str | None = None
    language: str | None = None
    voice: str | None = None
    client: str | None = None
    enabled: bool = True
    # None in any of the fields below: the global setting (Defaults) applies.
    when_unanswered: WhenUnanswered | None = None
    screen: bool | None = None
    # When the number is open (its hours, time zone and closed days); None: always.
    schedule: Schedule | None = None
    # Outside the hours: "apology", "voicemail" or "forward:<E.164>".
    when_closed: str | None = None
    # Said outside the hours instead of ``message``.
    closed_message: str | None = None
    answer_on_bridge: bool | None = None
    ring_tone: str | None = None
    voicemail_max_length: int | None = None
    transcribe: bool | None = None


@dataclass(frozen=True, slots=True)
class Defaults:
    """Global settings: what a route that sets nothing of its own gets, and the catch-all."""

    message: str = BUILT_IN_MESSAGE
    language: str = BUILT_IN_LANGUAGE
    voice: str = BUILT_IN_VOICE
    catch_all: str | None = None
    ring_timeout: int = DEFAULT_RING_TIMEOUT
    when_unanswered: WhenUnanswered = "apology"
    screen: bool = False
    # The zone a number's hours are read in when it names none.
    timezone: str = DEFAULT_TIMEZONE
    when_closed: str = "apology"
    answer_on_bridge: bool = False
    ring_tone: str | None = None
    voicemail_max_length: int = DEFAULT_VOICEMAIL_MAX_LENGTH
    transcribe: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """The parameters Twilio sends to the fallback URL that backline looks at."""

    call_sid: str
    to: str
    from_: str = ""
    account_sid: str = ""
    direction: str = ""
    call_status: str = ""
    error_code: str = ""
    error_url: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Call:
        get = params.get
        return cls(
            call_sid=get("CallSid", ""),
            to=get("To", "") or get("Called", ""),
            from_=get("From", "") or get("Caller", ""),
            account_sid=get("AccountSid", ""),
            direction=get("Direction", ""),
            call_status=get("CallStatus", ""),
            error_code=get("ErrorCode", ""),
            error_url=get("ErrorUrl", ""),
        )


@dataclass(frozen=True, slots=True)
class Dial:
    destinations: tuple[str, ...]
    caller_id: str | None
    timeout: int
    # The step this <Dial> is; the dial-outcome callback carries it back so the planner knows
    # which destinations come next without any server-side state.
    step: int
    # Dialled outside the number's hours (its forward: treatment); carried back like the step.
    closed: bool = False
    answer_on_bridge: bool = False
    ring_tone: str | None = None
    # The Twilio number whose whisper each <Number> plays; None: the call is not screened.
    screen_for: str | None = None


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str
    voice: str | None


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Record:
    """A voicemail: ``number`` and ``caller`` go into the status callback's URL, as Twilio's
    recording status request carries neither."""

    max_length: int
    transcribe: bool
    number: str
    caller: str


@dataclass(frozen=True, slots=True)
class Gather:
    """The whisper of a screened call: one key, said over ``say``; its action is the screened
    number's."""

    say: Say
    number: str
    timeout: int = WHISPER_TIMEOUT


Verb = Dial | Say | Hangup | Record | Gather


@dataclass(frozen=True, slots=True)
class Plan:
    """What to tell Twilio, and how the call stands once Twilio has done it."""

    verbs: tuple[Verb, ...]
    outcome: Outcome
    route_kind: RouteKind
    client: str | None = None
    destinations: tuple[str, ...] = field(default=())
    # What each step dials, in order: one group for a simultaneous route (each <Sip> in a group
    # of its own, as Twilio wants it), one destination per group for a sequential one.
    groups: tuple[tuple[str, ...], ...] = field(default=())

    def leg_destinations(self, step: int) -> tuple[str, ...]:
        """What step ``step`` of this forwarding dialled."""
        return self.groups[step] if 0 <= step < len(self.groups) else ()

    @property
    def dial(self) -> Dial | None:
        for verb in self.verbs:
            if isinstance(verb, Dial):
                return verb
        return None
