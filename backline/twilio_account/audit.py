"""Which of the account's numbers backline really protects: pure code over what Twilio listed
and what the table of numbers holds. No I/O; the command fetches, this decides.

A number is *covered* when Twilio requests backline for it when its primary handler fails
(``BACKLINE_PUBLIC_URL`` + the fallback path, with POST) and the table has a route for it.
A number whose calls go to a TwiML App or a SIP trunk ignores its own voice URLs (Twilio uses
the app's or the trunk's), so its fallback is elsewhere whatever the number says. A route may
name an explicit caller ID: Twilio only shows a number of the account (or one verified for it),
so any other makes the forwarded call fail.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never
from urllib.parse import urlsplit, urlunsplit

from backline.core import validation
from backline.twilio_account.rest import TwilioNumber

__all__ = [
    "Audit",
    "Fallback",
    "NumberAudit",
    "RouteFacts",
    "Status",
    "audit",
    "fallback_of",
    "same_url",
]


class Fallback(enum.Enum):
    """Where the number's "Primary handler fails" goes."""

    OURS = "backline"
    MISSING = "missing"
    ELSEWHERE = "elsewhere"
    WRONG_METHOD = "backline with GET"
    NOT_USED = "app or trunk"


class Status(enum.Enum):
    COVERED = "covered"
    FALLBACK_MISSING = "fallback missing"
    FALLBACK_ELSEWHERE = "fallback elsewhere"
    NO_ROUTE = "no route"
    NO_VOICE = "no voice"  # the number cannot take calls: nothing to protect


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What the audit needs of a route in the table."""

    number: str
    caller_id: str
    client: str | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class NumberAudit:
    number: TwilioNumber
    fallback: Fallback
    route: RouteFacts | None
    status: Status
    caller_id_problem: str | None = None

    @property
    def detail(self) -> str:
        """One phrase on why the status is what it is, for the table."""
        match self.fallback:
            case Fallback.NOT_USED:
                owner = self.number.voice_application_sid or self.number.trunk_sid
                kind = "TwiML App" if self.number.voice_application_sid else "SIP trunk"
                return f"calls go to {kind} {owner}: its fallback URL applies"
            case Fallback.WRONG_METHOD:
                return "fallback is backline but with GET"
            case Fallback.ELSEWHERE:
                return f"fallback is {self.number.voice_fallback_url}"
            case Fallback.MISSING:
                return "no fallback URL"
            case Fallback.OURS:
                return ""
            case _:
                assert_never(self.fallback)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.number.to_json(),
            "fallback": self.fallback.value,
            "fallback_is_backline": self.fallback is Fallback.OURS,
            "route": self.route is not None,
            "client": self.route.client if self.route else None,
            "status": self.status.value,
            "caller_id_problem": self.caller_id_problem,
        }


@dataclass(frozen=True, slots=True)
class Audit:
    fallback_url: str
    numbers: tuple[NumberAudit, ...]
    # Routes in the table for numbers none of the audited accounts has.
    not_in_account: tuple[str, ...]

    def count(self, status: Status) -> int:
        return sum(1 for row in self.numbers if row.status is status)

    @property
    def caller_id_problems(self) -> int:
        return sum(1 for row in self.numbers if row.caller_id_problem)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "numbers": len(self.numbers),
            "covered": self.count(Status.COVERED),
            "fallback_missing": self.count(Status.FALLBACK_MISSING),
            "fallback_elsewhere": self.count(Status.FALLBACK_ELSEWHERE),
            "no_route": self.count(Status.NO_ROUTE),
            "routes_not_in_account": len(self.not_in_account),
            "caller_id_not_in_account": self.caller_id_problems,
            "no_voice": self.count(Status.NO_VOICE),
        }

    @property
    def all_covered(self) -> bool:
        """Every number that can take calls is covered and every route is for one of them."""
        uncovered = (Status.FALLBACK_MISSING, Status.FALLBACK_ELSEWHERE, Status.NO_ROUTE)
        return (
            not any(row.status in uncovered for row in self.numbers)
            and not self.not_in_account
            and not self.caller_id_problems
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "fallback_url": self.fallback_url,
            "all_covered": self.all_covered,
            "counts": self.counts,
            "numbers": [row.to_json() for row in self.numbers],
            "routes_not_in_account": list(self.not_in_account),
        }


def _normal(url: str) -> str:
    """A URL compared as Twilio requests it: scheme and host in any case, no fragment (a
    fragment holds connection overrides, which change how Twilio connects, not where)."""
    parts = urlsplit(url.strip())
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def same_url(one: str, other: str) -> bool:
    return bool(one.strip()) and _normal(one) == _normal(other)


def fallback_of(number: TwilioNumber, fallback_url: str) -> Fallback:
    if number.voice_application_sid or number.trunk_sid:
        return Fallback.NOT_USED
    if not number.voice_fallback_url.strip():
        return Fallback.MISSING
    if not same_url(number.voice_fallback_url, fallback_url):
        return Fallback.ELSEWHERE
    # Twilio's default method is POST; an empty one is POST too.
    if number.voice_fallback_method not in ("", "POST"):
        return Fallback.WRONG_METHOD
    return Fallback.OURS


def _status(number: TwilioNumber, fallback: Fallback, route: RouteFacts | None) -> Status:
    if not number.voice_capable:
        return Status.NO_VOICE
    if route is None:
        return Status.NO_ROUTE
    match fallback:
        case Fallback.OURS:
            return Status.COVERED
        case Fallback.MISSING:
            return Status.FALLBACK_MISSING
        case Fallback.ELSEWHERE | Fallback.WRONG_METHOD | Fallback.NOT_USED:
            return Status.FALLBACK_ELSEWHERE
        case _:
            assert_never(fallback)


def _caller_id_problem(route: RouteFacts | None, allowed: set[str]) -> str | None:
    if route is None or not validation.is_e164(route.caller_id):
        return None  # a policy (the Twilio number, the caller) needs nothing of the account
    if route.caller_id in allowed:
        return None
    return (
        f"caller ID {route.caller_id} is not a number of this account nor one verified for it: "
        f"Twilio refuses to show it"
    )


def audit(
    numbers: Iterable[TwilioNumber],
    routes: Sequence[RouteFacts],
    fallback_url: str,
    verified_caller_ids: Mapping[str, set[str]] | None = None,
) -> Audit:
    """Audit ``numbers`` (of one or several accounts) against the table's ``routes``.

    ``verified_caller_ids`` gives, per account SID, the caller IDs verified for it besides its
    own numbers; an explicit caller ID outside both is reported.
    """
    listed = sorted(numbers, key=lambda item: (item.phone_number, item.account_sid))
    by_number = {route.number: route for route in routes}
    own_numbers: dict[str, set[str]] = {}
    for item in listed:
        own_numbers.setdefault(item.account_sid, set()).add(item.phone_number)
    verified = verified_caller_ids or {}
    rows = []
    for item in listed:
        route = by_number.get(item.phone_number)
        fallback = fallback_of(item, fallback_url)
        allowed = own_numbers[item.account_sid] | verified.get(item.account_sid, set())
        rows.append(
            NumberAudit(
                number=item,
                fallback=fallback,
                route=route,
                status=_status(item, fallback, route),
                caller_id_problem=_caller_id_problem(route, allowed),
            )
        )
    present = {item.phone_number for item in listed}
    missing = tuple(sorted(route.number for route in routes if route.number not in present))
    return Audit(fallback_url, tuple(rows), missing)
