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
from urllib.parse import parse_qsl, urlsplit

from backline.core.models import (
    Call,
    Defaults,
    Dial,
    Hangup,
    Outcome,
    Plan,
    Route,
    RouteKind,
    Say,
)
from backline.core.validation import is_e164, is_sip
from backline.core.voices import languages_of, say_voice

__all__ = [
    "caller_gone",
    "dial_groups",
    "normalise_dial_status",
    "plan_after_leg",
    "plan_first",
    "resumed_step",
    "route_say",
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


def caller_gone(call_status: str) -> bool:
    """Whether the caller has left the call (its CallStatus is a final one)."""
    return call_status.strip().lower() in _ENDED_CALL


def resumed_step(error_url: str, status_url: str) -> int | None:
    """The step to continue from when Twilio requests the fallback URL again for a call that
    backline is already forwarding.

    Twilio requests the fallback URL for a failure of any later URL of the same call, including
    backline's own dial-outcome URL (``status_url``, public URL + path). ``ErrorUrl`` is then
    that URL, with the ``step`` it was given: the leg of that step has ended. -1 when the URL is
    the dial-outcome URL but carries no readable step (then only the apology is left); None when
    ``error_url`` is not backline's dial-outcome URL (a first fallback).
    """
    if not error_url:
        return None
    try:
        failed, ours = urlsplit(error_url.strip()), urlsplit(status_url)
    except ValueError:
        return None
    if (failed.hostname or "") != (ours.hostname or "") or failed.path.rstrip("/") != ours.path:
        return None
    for key, value in parse_qsl(failed.query):
        if key == "step" and value.isdigit() and len(value) <= 4:
            return int(value)
    return -1


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
    """The forwarding that applies to this call once catch-all and defaults are resolved."""

    kind: RouteKind
    destinations: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    ring_timeout: int
    caller_id: str | None
    say: Say
    client: str | None


def _resolve(call: Call, route: Route | None, defaults: Defaults) -> _Effective:
    default_say = _default_say(defaults)
    # The Twilio number is the caller ID that survives Japanese carriers; only use it when it
    # really is a number (a forged or odd "To" must not end up in the markup as caller ID).
    twilio_number = call.to if is_e164(call.to) else None
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
            )
        return _Effective(
            kind,
            (),
            (),
            defaults.ring_timeout,
            twilio_number,
            say,
            None if route is None else route.client,
        )
    return _Effective(
        kind="route",
        destinations=route.destinations,
        groups=dial_groups(route.destinations, route.mode == "sequential"),
        ring_timeout=route.ring_timeout,
        caller_id=_caller_id(route.caller_id, call, twilio_number),
        say=route_say(route, defaults),
        client=route.client,
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
    return Dial(effective.groups[step], effective.caller_id, effective.ring_timeout, step)


def _plan(effective: _Effective, verbs: tuple[Dial | Say | Hangup, ...], outcome: Outcome) -> Plan:
    return Plan(
        verbs,
        outcome,
        effective.kind,
        effective.client,
        effective.destinations,
        effective.groups,
    )


def plan_first(call: Call, route: Route | None, defaults: Defaults) -> Plan:
    """The answer to the fallback request itself."""
    effective = _resolve(call, route, defaults)
    if not effective.destinations:
        return _plan(effective, (effective.say, Hangup()), "unrouted")
    return _plan(effective, (_dial_step(effective, 0),), "forwarding")


def plan_after_leg(
    call: Call, route: Route | None, defaults: Defaults, step: int, dial_status: str
) -> Plan:
    """The answer to the dial-outcome request for ``step`` that ended with ``dial_status``.

    ``step`` -1 stands for "a step that cannot be known": nothing more is dialled.
    """
    effective = _resolve(call, route, defaults)
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
    return _plan(effective, (effective.say, Hangup()), status)
