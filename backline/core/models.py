"""The values the planner works on. Plain frozen dataclasses: cheap to build, safe to share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["simultaneous", "sequential"]

# What finally happened to a diverted call, as recorded and reported.
#   forwarding  a <Dial> is under way (no outcome yet)
#   answered    a destination picked up
#   busy / no-answer / failed   the last destination tried did not connect; the apology played
#   caller-hung-up  the caller hung up while a destination rang; nothing more was dialled
#   canceled    the ringing leg was cancelled through Twilio's REST API (by some other program)
#   unrouted    nothing to dial (unknown or disabled number, no catch-all); the apology played
Outcome = Literal[
    "forwarding",
    "answered",
    "busy",
    "no-answer",
    "failed",
    "caller-hung-up",
    "canceled",
    "unrouted",
]
FINAL_OUTCOMES: frozenset[str] = frozenset(
    {"answered", "busy", "no-answer", "failed", "caller-hung-up", "canceled", "unrouted"}
)

# Which table entry the answer came from, kept on the call record for the team.
RouteKind = Literal["route", "catch-all", "disabled", "unknown", "last-resort"]

# The apology of the seed system, now with a language and a voice that can speak it.
BUILT_IN_MESSAGE = (
    "ただいまお電話が大変込み合っております。しばらくたってから、おかけ直し下さいませ。"
)
BUILT_IN_LANGUAGE = "ja-JP"
BUILT_IN_VOICE = "Polly.Mizuki"
DEFAULT_RING_TIMEOUT = 30

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


@dataclass(frozen=True, slots=True)
class Defaults:
    """Global settings: the apology used where a route has none, and the catch-all."""

    message: str = BUILT_IN_MESSAGE
    language: str = BUILT_IN_LANGUAGE
    voice: str = BUILT_IN_VOICE
    catch_all: str | None = None
    ring_timeout: int = DEFAULT_RING_TIMEOUT


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


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str
    voice: str | None


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Verb = Dial | Say | Hangup


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
