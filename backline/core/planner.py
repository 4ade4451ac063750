"""Route + call (+ the leg that just ended) -> Plan. Pure: no I/O, no time, no randomness.

Two moments are planned:

* :func:`plan_first` when Twilio requests the fallback URL;
* :func:`plan_after_leg` when Twilio requests the ``<Dial action>`` URL because a leg ended.

The dial-outcome request carries the step that ended (it is part of the signed action URL), so
sequential forwarding needs no server-side state: step ``n`` dials destination ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from backline.core.validation import is_e164

__all__ = ["normalise_dial_status", "plan_after_leg", "plan_first"]

# DialCallStatus values Twilio sends to the action URL, mapped onto what they mean here.
_ANSWERED = frozenset({"completed", "answered"})
_NOT_CONNECTED = frozenset({"busy", "no-answer", "failed"})


def normalise_dial_status(status: str) -> Outcome:
    """Map a DialCallStatus onto an outcome; an unknown status counts as a failed leg."""
    status = status.strip().lower()
    if status in _ANSWERED:
        return "answered"
    if status == "canceled":
        return "canceled"
    if status in _NOT_CONNECTED:
        return status  # type: ignore[return-value]
    return "failed"


@dataclass(frozen=True, slots=True)
class _Effective:
    """The forwarding that applies to this call once catch-all and defaults are resolved."""

    kind: RouteKind
    destinations: tuple[str, ...]
    sequential: bool
    ring_timeout: int
    caller_id: str | None
    say: Say
    client: str | None


def _resolve(call: Call, route: Route | None, defaults: Defaults) -> _Effective:
    default_say = Say(defaults.message, defaults.language, defaults.voice)
    # The Twilio number is the caller ID that survives Japanese carriers; only use it when it
    # really is a number (a forged or odd "To" must not end up in the markup as caller ID).
    twilio_number = call.to if is_e164(call.to) else None
    if route is None or not route.enabled or not route.destinations:
        kind: RouteKind = "unknown" if route is None else "disabled"
        say = default_say if route is None else _route_say(route, defaults)
        if route is None and defaults.catch_all:
            return _Effective(
                "catch-all",
                (defaults.catch_all,),
                False,
                defaults.ring_timeout,
                twilio_number,
                say,
                None,
            )
        return _Effective(
            kind,
            (),
            False,
            defaults.ring_timeout,
            twilio_number,
            say,
            None if route is None else route.client,
        )
    return _Effective(
        kind="route",
        destinations=route.destinations,
        sequential=route.mode == "sequential",
        ring_timeout=route.ring_timeout,
        caller_id=_caller_id(route.caller_id, call, twilio_number),
        say=_route_say(route, defaults),
        client=route.client,
    )


def _route_say(route: Route, defaults: Defaults) -> Say:
    # A route that sets its own message but no language or voice still gets the defaults'
    # language and voice, never Twilio's English default reading Japanese text.
    return Say(
        route.message or defaults.message,
        route.language or defaults.language,
        route.voice or defaults.voice,
    )


def _caller_id(policy: str, call: Call, twilio_number: str | None) -> str | None:
    if policy == "twilio-number":
        return twilio_number
    if policy == "caller":
        # Withheld callers arrive as "anonymous" or similar; fall back to the Twilio number.
        return call.from_ if is_e164(call.from_) else twilio_number
    return policy if is_e164(policy) else twilio_number


def _dial_step(effective: _Effective, step: int) -> Dial:
    targets = (effective.destinations[step],) if effective.sequential else effective.destinations
    return Dial(targets, effective.caller_id, effective.ring_timeout, step)


def _plan(effective: _Effective, verbs: tuple[Dial | Say | Hangup, ...], outcome: Outcome) -> Plan:
    return Plan(
        verbs,
        outcome,
        effective.kind,
        effective.client,
        effective.destinations,
        effective.sequential,
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
    """The answer to the dial-outcome request for ``step`` that ended with ``dial_status``."""
    effective = _resolve(call, route, defaults)
    status = normalise_dial_status(dial_status)
    if status == "answered" or status == "canceled":
        # Answered: the conversation is over, an apology now would be heard by nobody or,
        # worse, by the caller after a good call. Canceled: the caller has gone.
        return _plan(effective, (Hangup(),), status)
    next_step = step + 1
    if effective.sequential and 0 <= next_step < len(effective.destinations):
        return _plan(effective, (_dial_step(effective, next_step),), "forwarding")
    return _plan(effective, (effective.say, Hangup()), status)
