"""Drills as pure functions: what a live deployment must answer for a number, and whether it did.

`backline drill` (:mod:`backline.drill`) sends each number a signed fallback request marked as
a drill, then walks the forwarding as Twilio would when nobody picks up: one dial-outcome
request per ``<Dial>`` with ``DialCallStatus=no-answer``, until the apology. Each answer is held
against what the table says the number must do: the planner's rules applied to the route the
drill read itself. So a drill catches a server that answers from another table (a stale
snapshot, another database) or with other rules (another version), as well as a wrong token or
public URL.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, assert_never

from backline.core.models import DRILL_CALL_SID_PREFIX, Call, Defaults, Route, Say
from backline.core.planner import plan_after_leg, plan_first
from backline.core.twiml import xml_safe

__all__ = [
    "DRILL_CALLER",
    "ChannelResult",
    "DrillReport",
    "Expectation",
    "ExpectedDial",
    "ExpectedSay",
    "NumberResult",
    "Observed",
    "ObservedDial",
    "check",
    "drill_call_sid",
    "expect",
    "read_answer",
]

# The caller a drill claims to be: a number of the range Ofcom keeps for drama (+44 7700 900xxx),
# so it is a valid E.164 number that belongs to nobody. Only the "caller" caller-ID policy
# shows it, and nothing is ever dialled with it.
DRILL_CALLER = "+447700900000"

RouteKind = Literal["route", "disabled", "catch-all", "unknown", "closed"]


def drill_call_sid(stamp: str, nonce: str) -> str:
    """``drill-<UTC stamp>-<nonce>``: never a Twilio CallSid (those are "CA" + 32 hex digits),
    at most 64 characters like every CallSid column."""
    return f"{DRILL_CALL_SID_PREFIX}{stamp}-{nonce}"[:64]


# -- what the table says -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedDial:
    destinations: tuple[str, ...]
    caller_id: str | None
    timeout: int


@dataclass(frozen=True, slots=True)
class ExpectedSay:
    text: str
    language: str
    voice: str
    # The whole answer: the apology then a hang-up, or (a number that takes messages) the
    # message, the announcement, the <Record> and a hang-up.
    verbs: tuple[str, ...] = ("Say", "Hangup")


Step = ExpectedDial | ExpectedSay


@dataclass(frozen=True, slots=True)
class Expectation:
    """Every answer a number must give when nobody picks up: its dials, then the apology."""

    number: str
    kind: RouteKind
    client: str | None
    dials: tuple[ExpectedDial, ...]
    apology: ExpectedSay

    @property
    def steps(self) -> tuple[Step, ...]:
        return (*self.dials, self.apology)

    def describe(self) -> str:
        """What the number does, in a few words: for the table a person reads."""
        parts: list[str] = []
        if self.dials:
            parts.append("dials " + ", then ".join(", ".join(d.destinations) for d in self.dials))
            if self.kind == "catch-all":
                parts[-1] += " (catch-all)"
        elif self.kind == "disabled":
            parts.append("disabled")
        elif self.kind == "unknown":
            parts.append("not in the table")
        elif self.kind == "closed":
            parts.append("closed now")
        apology = self.apology
        parts.append(f"apology {apology.language} {apology.voice or '(default voice)'}")
        return "; ".join(parts)


def expect(
    number: str,
    route: Route | None,
    defaults: Defaults,
    caller: str = DRILL_CALLER,
    *,
    now: float,
) -> Expectation:
    """What ``number`` must answer according to the table (``route`` None: not in it), at
    ``now`` (a number with office hours may be closed).

    The planner's rules applied to the route the drill read from the table itself: where the
    service answers from another table (or another version of the rules), the two differ.
    """
    ringing = Call(call_sid="drill", to=number, from_=caller, call_status="ringing")
    in_progress = replace(ringing, call_status="in-progress")
    plan = plan_first(ringing, route, defaults, now=now)
    dials: list[ExpectedDial] = []
    # Bounded: a route dials at most one step per destination before the apology.
    for _ in range(len(route.destinations) + 2 if route is not None else 2):
        dial = plan.dial
        if dial is None:
            break
        dials.append(ExpectedDial(dial.destinations, dial.caller_id, dial.timeout))
        plan = plan_after_leg(
            in_progress, route, defaults, dial.step, "no-answer", closed=dial.closed
        )
    say = next((verb for verb in plan.verbs if isinstance(verb, Say)), None)
    apology = ExpectedSay(
        xml_safe(say.text) if say else "",
        say.language if say else "",
        # No voice: the language's own default, and no voice attribute in the answer.
        (say.voice or "") if say else "",
        tuple(type(verb).__name__ for verb in plan.verbs),
    )
    kind: RouteKind
    match plan.route_kind:
        case "route" | "disabled" | "catch-all" | "unknown" | "closed":
            kind = plan.route_kind
        case "last-resort":
            kind = "unknown"
        case _:
            assert_never(plan.route_kind)
    return Expectation(number, kind, plan.client, tuple(dials), apology)


# -- what the deployment answered --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservedDial:
    destinations: tuple[str, ...]
    caller_id: str | None
    timeout: int | None
    action: str


@dataclass(frozen=True, slots=True)
class Observed:
    verbs: tuple[str, ...]
    dial: ObservedDial | None = None
    say: ExpectedSay | None = None


def read_answer(status: int, body: str) -> Observed | str:
    """The answer as verbs, or a sentence saying why it is not an answer Twilio could use."""
    if status == 403:
        return (
            "refused with 403: the signature did not match (the service and this drill "
            "differ in BACKLINE_TWILIO_AUTH_TOKEN or BACKLINE_PUBLIC_URL)"
        )
    if status != 200:
        return f"answered HTTP {status}, not TwiML: Twilio would play an error to the caller"
    try:
        # The answer comes from the operator's own deployment, read with a size limit.
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError as error:
        return f"answered 200 but not XML ({error})"
    if root.tag != "Response":
        return f"answered XML that is not TwiML (<{root.tag}>)"
    verbs = tuple(child.tag for child in root)
    dial = None
    say = None
    for child in root:
        if child.tag == "Dial" and dial is None:
            timeout = child.get("timeout")
            dial = ObservedDial(
                destinations=tuple((noun.text or "").strip() for noun in child),
                caller_id=child.get("callerId"),
                timeout=int(timeout) if timeout and timeout.isdigit() else None,
                action=child.get("action", ""),
            )
        elif child.tag == "Say" and say is None:
            say = ExpectedSay(child.text or "", child.get("language", ""), child.get("voice", ""))
    return Observed(verbs, dial, say)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "nobody"


def check(step: Step, observed: Observed) -> list[str]:
    """What is wrong with ``observed`` as the answer the table asks for at ``step``."""
    match step:
        case ExpectedDial():
            return _check_dial(step, observed)
        case ExpectedSay():
            return _check_apology(step, observed)
        case _:
            assert_never(step)


def _check_dial(step: ExpectedDial, observed: Observed) -> list[str]:
    dial = observed.dial
    if dial is None:
        if observed.say is not None:
            return [
                f"plays the apology instead of dialling {_listed(step.destinations)}",
            ]
        return [f"does not dial {_listed(step.destinations)} (answers {_verbs(observed)})"]
    problems = []
    if dial.destinations != step.destinations:
        problems.append(
            f"dials {_listed(dial.destinations)} instead of {_listed(step.destinations)}"
        )
    if dial.caller_id != step.caller_id:
        problems.append(
            f"caller ID {dial.caller_id or 'none'} instead of {step.caller_id or 'none'}"
        )
    if dial.timeout != step.timeout:
        shown = f"{dial.timeout} s" if dial.timeout is not None else "Twilio's default"
        problems.append(f"rings {shown} instead of {step.timeout} s")
    if not dial.action:
        problems.append("no dial-outcome URL: Twilio could not go on after the dial")
    if observed.verbs != ("Dial",):
        problems.append(f"answers {_verbs(observed)} instead of a single <Dial>")
    return problems


def _check_apology(step: ExpectedSay, observed: Observed) -> list[str]:
    if observed.dial is not None:
        return [f"dials {_listed(observed.dial.destinations)} where the table says to apologise"]
    say = observed.say
    if say is None:
        return [f"does not play the apology (answers {_verbs(observed)})"]
    problems = []
    if say.language != step.language:
        problems.append(f"apology in {say.language or 'no language'} instead of {step.language}")
    if say.voice != step.voice:
        problems.append(f"apology voice {say.voice or 'none'} instead of {step.voice}")
    if say.text != step.text:
        problems.append(f"apology text {_clip(say.text)!r} instead of {_clip(step.text)!r}")
    if observed.verbs != step.verbs:
        wanted = "".join(f"<{verb}>" for verb in step.verbs)
        problems.append(f"answers {_verbs(observed)} instead of {wanted}")
    return problems


def _verbs(observed: Observed) -> str:
    return "".join(f"<{verb}>" for verb in observed.verbs) or "an empty <Response>"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberResult:
    number: str
    client: str | None
    kind: RouteKind
    expected: str
    problems: tuple[str, ...]
    requests: int
    slowest_ms: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "client": self.client,
            "kind": self.kind,
            "expected": self.expected,
            "ok": self.ok,
            "problems": list(self.problems),
            "requests": self.requests,
            "slowest_ms": round(self.slowest_ms, 1),
        }


@dataclass(frozen=True, slots=True)
class ChannelResult:
    id: int
    name: str
    client: str | None
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "client": self.client,
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class DrillReport:
    started_at: str
    finished_at: str
    url: str
    numbers: tuple[NumberResult, ...]
    channels: tuple[ChannelResult, ...]
    notified: bool
    service: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.numbers) and all(c.ok for c in self.channels)

    @property
    def failing_numbers(self) -> list[str]:
        return [result.number for result in self.numbers if not result.ok]

    @property
    def failing_channels(self) -> list[ChannelResult]:
        return [channel for channel in self.channels if not channel.ok]

    def failures(self) -> list[str]:
        """Each failing number and channel, as shown in /healthz (channels by id only: their
        addresses are for the operator's eyes, and /healthz is public)."""
        return [*self.failing_numbers, *(f"channel #{c.id}" for c in self.failing_channels)]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "url": self.url,
            "failures": self.failures(),
            "numbers": [result.to_json() for result in self.numbers],
            "notified": self.notified,
            "channels": [channel.to_json() for channel in self.channels],
            "service": dict(self.service) if self.service is not None else None,
        }
