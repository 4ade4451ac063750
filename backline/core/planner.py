"""Route + call (+ the leg that just ended) -> Plan. Pure: no I/O, no time, no randomness.

Two moments are planned:

* :func:`plan_first` when Twilio requests the fallback URL;
* :func:`plan_after_leg` when Twilio requests the ``<Dial action>`` URL because a leg ended, or
  requests the fallback URL again because that action URL failed (see :func:`resumed_step`).

The dial-outcome request carries the step that ended (it is part of the signed action URL), so
forwarding needs no server-side state: step ``n`` dials group ``n`` of the route's destinations.
A simultaneous route is one group, except that each ``sip:`` destination is a group of its own
(Twilio refuses a ``<Dial>`` holding a ``<Sip>`` beside any other noun); a sequential route is
one group per destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, assert_never
from urllib.parse import parse_qsl, urlsplit

from backline.core.models import (
    ACCEPT_KEY,
    Call,
    Defaults,
    Dial,
    Gather,
    Hangup,
    Outcome,
    Plan,
    Record,
    Route,
    RouteKind,
    Say,
    Verb,
    WhenUnanswered,
)
from backline.core.validation import is_e164, is_sip
from backline.core.voices import languages_of, say_voice

ClosedKind = Literal["apology", "voicemail", "forward"]

__all__ = [
    "Resume",
    "announcement",
    "caller_gone",
    "closed_now",
    "closed_treatment",
    "dial_groups",
    "leg_status",
    "may_record",
    "normalise_dial_status",
    "plan_after_leg",
    "plan_after_voicemail",
    "plan_first",
    "plan_screen_answer",
    "plan_whisper",
    "resumed_step",
    "route_say",
    "url_caller",
]

# DialCallStatus values Twilio sends to the action URL, mapped onto what they mean here.
# "canceled" means the dialled leg was cancelled through Twilio's REST API, not that the caller
# hung up: the caller's own state is the request's CallStatus (see caller_gone).
_DIAL_STATUSES: dict[str, Outcome] = {
    "completed": "answered",
    "answered": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}

# The CallStatus values of a call that has ended. The action request carries the parent call's
# CallStatus, so one of these means the caller is gone (hung up while a leg rang).
_ENDED_CALL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def normalise_dial_status(status: str) -> Outcome:
    """Map a DialCallStatus onto an outcome; an unknown status counts as a failed leg."""
    return _DIAL_STATUSES.get(status.strip().lower(), "failed")


def leg_status(dial_status: str, dial_bridged: str) -> str:
    """The DialCallStatus to plan with: Twilio's, except that a leg picked up but never
    connected to the caller (``DialBridged=false``) is not an answer.

    With screening, a destination's voicemail, or a person who presses no key or another key,
    hears the whisper and is hung up on: the telephone network saw an answer, but nobody took
    the call, and the hunt must go on whatever status Twilio reports for it. Without
    ``DialBridged`` (an older request, a test), Twilio's status stands.
    """
    if dial_bridged.strip().lower() == "false" and normalise_dial_status(dial_status) == "answered":
        return "no-answer"
    return dial_status


def caller_gone(call_status: str) -> bool:
    """Whether the caller has left the call (its CallStatus is a final one)."""
    return call_status.strip().lower() in _ENDED_CALL


class Resume(NamedTuple):
    """Where a call already being forwarded stands: the step whose leg ended, and whether the
    first answer gave it the closed treatment."""

    step: int
    closed: bool = False


def resumed_step(error_url: str, status_url: str) -> Resume | None:
    """Where to continue when Twilio requests the fallback URL again for a call that backline
    is already forwarding.

    Twilio requests the fallback URL for a failure of any later URL of the same call, including
    backline's own dial-outcome URL (``status_url``, public URL + path). ``ErrorUrl`` is then
    that URL, with the ``step`` (and ``closed``) it was given: the leg of that step has ended.
    Step -1 when the URL is the dial-outcome URL but carries no readable step (then only the
    message is left); None when ``error_url`` is not backline's dial-outcome URL (a first
    fallback).
    """
    if not error_url:
        return None
    try:
        failed, ours = urlsplit(error_url.strip()), urlsplit(status_url)
    except ValueError:
        return None
    if (failed.hostname or "") != (ours.hostname or "") or failed.path.rstrip("/") != ours.path:
        return None
    step, closed = -1, False
    for key, value in parse_qsl(failed.query):
        if key == "step" and value.isdigit() and len(value) <= 4:
            step = int(value)
        elif key == "closed":
            closed = value == "1"
    return Resume(step, closed)


def dial_groups(destinations: tuple[str, ...], sequential: bool) -> tuple[tuple[str, ...], ...]:
    """What each step dials. Numbers ring together in a simultaneous route; a ``sip:``
    destination always rings alone, where it stands in the list."""
    if sequential:
        return tuple((target,) for target in destinations)
    groups: list[tuple[str, ...]] = []
    numbers_at: int | None = None
    for target in destinations:
        if is_sip(target):
            groups.append((target,))
        elif numbers_at is None:
            numbers_at = len(groups)
            groups.append((target,))
        else:
            groups[numbers_at] = (*groups[numbers_at], target)
    return tuple(groups)


@dataclass(frozen=True, slots=True)
class _Effective:
    """The forwarding that applies to this call once catch-all, hours and defaults are
    resolved."""

    kind: RouteKind
    destinations: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    ring_timeout: int
    caller_id: str | None
    say: Say
    client: str | None
    closed: bool = False
    # The voicemail the call ends in when nobody answers; None: the message, then hang up.
    record: Record | None = None
    answer_on_bridge: bool = False
    ring_tone: str | None = None
    screen_for: str | None = None


def closed_now(route: Route | None, now: float) -> bool:
    """Whether a call to ``route`` arriving at ``now`` gets the closed treatment: only a number
    that would forward (enabled, with destinations) and whose hours say it is closed."""
    if route is None or not route.enabled or not route.destinations or route.schedule is None:
        return False
    from backline.core.hours import is_open

    return not is_open(route.schedule, now)


def closed_treatment(value: str) -> tuple[ClosedKind, str]:
    """``apology`` / ``voicemail`` / ``forward:+81...`` -> (kind, forward target or "")."""
    kind, _, target = value.partition(":")
    if kind == "forward" and target:
        return "forward", target
    if kind == "voicemail":
        return "voicemail", ""
    return "apology", ""


def url_caller(from_: str) -> str:
    """A caller ID fit for our own URL: Twilio sends E.164 numbers, or words such as
    "anonymous" for a withheld one; anything else is dropped rather than carried. (No regular
    expression: compiling one would cost every cold start, and this runs only for voicemail.)"""
    bare = from_[1:] if from_.startswith("+") else from_
    return from_ if 0 < len(bare) <= 32 and bare.isascii() and bare.isalnum() else ""


def _voicemail(call: Call, route: Route, defaults: Defaults) -> Record | None:
    twilio_number = call.to if is_e164(call.to) else ""
    if not twilio_number:
        return None  # nowhere to file a message for: the apology instead
    transcribe = route.transcribe if route.transcribe is not None else defaults.transcribe
    max_length = route.voicemail_max_length or defaults.voicemail_max_length
    return Record(max_length, transcribe, twilio_number, url_caller(call.from_))


def _resolve(call: Call, route: Route | None, defaults: Defaults, closed: bool) -> _Effective:
    default_say = _default_say(defaults)
    # The Twilio number is the caller ID that survives Japanese carriers; only use it when it
    # really is a number (a forged or odd "To" must not end up in the markup as caller ID).
    twilio_number = call.to if is_e164(call.to) else None
    bridge, tone = defaults.answer_on_bridge, defaults.ring_tone
    if route is None or not route.enabled or not route.destinations:
        kind: RouteKind = "unknown" if route is None else "disabled"
        say = default_say if route is None else route_say(route, defaults)
        if route is None and defaults.catch_all:
            return _Effective(
                "catch-all",
                (defaults.catch_all,),
                ((defaults.catch_all,),),
                defaults.ring_timeout,
                twilio_number,
                say,
                None,
                answer_on_bridge=bridge,
                ring_tone=tone,
            )
        # A disabled number still takes messages if it is set to: nothing rings, the caller
        # may leave one. A number not in the table has nobody to take a message for.
        record = None
        if route is not None and _when_unanswered(route, defaults) == "voicemail":
            record = _voicemail(call, route, defaults)
        return _Effective(
            kind,
            (),
            (),
            defaults.ring_timeout,
            twilio_number,
            say,
            None if route is None else route.client,
            record=record,
        )
    screen = route.screen if route.screen is not None else defaults.screen
    screen_for = twilio_number if screen else None
    # The whisper is heard while the caller still hears ringing only with answerOnBridge, so a
    # screened number bridges on answer unless it says otherwise.
    if route.answer_on_bridge is not None:
        bridge = route.answer_on_bridge
    elif screen:
        bridge = True
    tone = route.ring_tone or tone
    record = (
        _voicemail(call, route, defaults)
        if _when_unanswered(route, defaults) == "voicemail"
        else None
    )
    say = route_say(route, defaults)
    groups = dial_groups(route.destinations, route.mode == "sequential")
    destinations = route.destinations
    if closed:
        say = Say(route.closed_message or say.text, say.language, say.voice)
        treatment, target = closed_treatment(route.when_closed or defaults.when_closed)
        match treatment:
            case "forward":
                destinations, groups = (target,), ((target,),)
            case "voicemail":
                destinations, groups = (), ()
                record = _voicemail(call, route, defaults)
            case "apology":
                destinations, groups, record = (), (), None
            case _:
                assert_never(treatment)
    return _Effective(
        kind="closed" if closed else "route",
        destinations=destinations,
        groups=groups,
        ring_timeout=route.ring_timeout,
        caller_id=_caller_id(route.caller_id, call, twilio_number),
        say=say,
        client=route.client,
        closed=closed,
        record=record,
        answer_on_bridge=bridge,
        ring_tone=tone,
        screen_for=screen_for,
    )


def _when_unanswered(route: Route, defaults: Defaults) -> WhenUnanswered:
    return route.when_unanswered or defaults.when_unanswered


def may_record(route: Route | None, defaults: Defaults) -> bool:
    """Whether a call to ``route`` may end in a voicemail (whose URL names the caller)."""
    if route is None:
        return False
    return _when_unanswered(route, defaults) == "voicemail" or (
        route.schedule is not None
        and closed_treatment(route.when_closed or defaults.when_closed)[0] == "voicemail"
    )


def _default_say(defaults: Defaults) -> Say:
    return Say(defaults.message, defaults.language, say_voice(defaults.language, defaults.voice))


def route_say(route: Route, defaults: Defaults) -> Say:
    """The apology of ``route``: its own message, language and voice, the defaults for the rest.

    A route that sets its own message but no language or voice still gets the defaults'
    language and voice, never Twilio's English default reading Japanese text. A route that names
    a voice but no language speaks that voice's language; one that names a language but no voice
    gets that language's default voice (the defaults' voice only when it speaks the language).
    """
    voice_languages = languages_of(route.voice) if route.voice else ()
    if route.language:
        language = route.language
    elif voice_languages and defaults.language not in voice_languages:
        language = voice_languages[0]
    else:
        language = defaults.language
    wanted = route.voice or (defaults.voice if language == defaults.language else None)
    return Say(route.message or defaults.message, language, say_voice(language, wanted))


def _caller_id(policy: str, call: Call, twilio_number: str | None) -> str | None:
    if policy == "twilio-number":
        return twilio_number
    if policy == "caller":
        # Withheld callers arrive as "anonymous" or similar; fall back to the Twilio number.
        return call.from_ if is_e164(call.from_) else twilio_number
    return policy if is_e164(policy) else twilio_number


def _dial_step(effective: _Effective, step: int) -> Dial:
    return Dial(
        effective.groups[step],
        effective.caller_id,
        effective.ring_timeout,
        step,
        closed=effective.closed,
        answer_on_bridge=effective.answer_on_bridge,
        ring_tone=effective.ring_tone,
        screen_for=effective.screen_for,
    )


def _plan(effective: _Effective, verbs: tuple[Verb, ...], outcome: Outcome) -> Plan:
    return Plan(
        verbs,
        outcome,
        effective.kind,
        effective.client,
        effective.destinations,
        effective.groups,
    )


def _spoken(text: str, language: str, say: Say) -> Say:
    """backline's own words (in ``language``), in the message's voice when they are in the
    message's language, else in their language's default voice."""
    if language.split("-")[0] == say.language.split("-")[0].lower():
        return Say(text, say.language, say.voice)
    return Say(text, language, say_voice(language, None))


def announcement(say: Say) -> Say:
    """The voicemail announcement that follows the message ``say``."""
    from backline.core.phrases import phrases_for

    phrases = phrases_for(say.language)
    return _spoken(phrases.voicemail, phrases.language, say)


def _nobody_answers(effective: _Effective, outcome: Outcome) -> Plan:
    """The end of the hunt (or a number that dials nothing): the message, then a voicemail
    when the number takes messages, else hang up."""
    if effective.record is not None:
        verbs = (effective.say, announcement(effective.say), effective.record, Hangup())
        return _plan(effective, verbs, "voicemail")
    return _plan(effective, (effective.say, Hangup()), outcome)


def plan_first(call: Call, route: Route | None, defaults: Defaults, *, now: float) -> Plan:
    """The answer to the fallback request itself, at ``now`` (seconds since the epoch)."""
    closed = closed_now(route, now)
    effective = _resolve(call, route, defaults, closed)
    if not effective.destinations:
        return _nobody_answers(effective, "closed" if closed else "unrouted")
    return _plan(effective, (_dial_step(effective, 0),), "forwarding")


def plan_after_leg(
    call: Call,
    route: Route | None,
    defaults: Defaults,
    step: int,
    dial_status: str,
    *,
    closed: bool = False,
) -> Plan:
    """The answer to the dial-outcome request for ``step`` that ended with ``dial_status``.

    ``step`` -1 stands for "a step that cannot be known": nothing more is dialled. ``closed``
    is what the first answer decided (carried in the action URL): a call that began in office
    hours goes on as it began when the hours end while it rings, and the other way round.
    """
    effective = _resolve(call, route, defaults, closed)
    status = normalise_dial_status(dial_status)
    if status == "answered" or status == "canceled":
        # Answered: the conversation is over, an apology now would be heard by nobody or,
        # worse, by the caller after a good call. Canceled: another program cancelled the leg
        # through Twilio's REST API, which ends the forwarding as it intended.
        return _plan(effective, (Hangup(),), status)
    if caller_gone(call.call_status):
        # The caller hung up while the leg rang: dialling the next one would ring a phone for
        # nobody (and the call would never end as far as the record goes).
        return _plan(effective, (Hangup(),), "caller-hung-up")
    next_step = step + 1
    if step >= 0 and next_step < len(effective.groups):
        return _plan(effective, (_dial_step(effective, next_step),), "forwarding")
    return _nobody_answers(effective, status)


# -- a screened call: the whisper, and the key pressed --------------------------------------
def _spoken_number(number: str) -> str:
    """A number read digit by digit (a long number read as one figure means nothing)."""
    return " ".join(c for c in number if c.isdigit())


def plan_whisper(route: Route | None, defaults: Defaults, number: str) -> tuple[Verb, ...]:
    """What the person who picks up a screened call hears: whose call it is, in the number's
    language and voice, then one key to take it. No key (a voicemail greeting, a person who
    hesitates) runs past the <Gather> into the hang-up: that leg ends, the hunt goes on."""
    say = route_say(route, defaults) if route is not None else _default_say(defaults)
    whom = (route.client if route is not None else None) or _spoken_number(number)
    from backline.core.phrases import phrases_for

    phrases = phrases_for(say.language)
    spoken = _spoken(phrases.whisper.format(whom=whom), phrases.language, say)
    return (Gather(spoken, number), Hangup())


def plan_screen_answer(digits: str) -> tuple[Verb, ...]:
    """The key pressed during the whisper: the accept key connects (an empty answer ends the
    whisper, and Twilio bridges the call); any other key hangs up that leg."""
    return () if digits.strip() == ACCEPT_KEY else (Hangup(),)


def plan_after_voicemail() -> tuple[Verb, ...]:
    """After the <Record>: the message is taken, the call ends."""
    return (Hangup(),)
