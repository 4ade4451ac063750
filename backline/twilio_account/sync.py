"""Pointing the numbers that have a route at backline: the plan (pure), then applying it one
number at a time, each failure kept and the rest carried on.

Only ``VoiceFallbackUrl`` and ``VoiceFallbackMethod`` are ever sent: the primary ``VoiceUrl``
is the voice app's, and backline is only its safety net. A number without a route is left as
it is (calls there would only get the catch-all), and so is a number whose calls go to a TwiML
App or SIP trunk (its own fallback is not used). A plan made after a sync has nothing in it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from backline.twilio_account.audit import Audit, Fallback, NumberAudit, Status
from backline.twilio_account.rest import TwilioApiError, TwilioNumber

__all__ = ["Applied", "Change", "Outcome", "Plan", "Skip", "apply", "plan"]


class Skip(enum.Enum):
    """Why a number the operator named is not in the plan."""

    NOT_IN_ACCOUNT = "not a number of the account"
    NO_ROUTE = "has no route in the table: add it first (`backline numbers add`)"
    APP_OR_TRUNK = "takes its calls through a TwiML App or SIP trunk: set the fallback there"
    NO_VOICE = "cannot take voice calls"
    ALREADY = "already falls back to backline"


@dataclass(frozen=True, slots=True)
class Change:
    number: TwilioNumber
    url: str

    @property
    def before(self) -> str:
        if not self.number.voice_fallback_url:
            return "(none)"
        method = self.number.voice_fallback_method or "POST"
        return f"{self.number.voice_fallback_url} ({method})"


@dataclass(frozen=True, slots=True)
class Plan:
    fallback_url: str
    changes: tuple[Change, ...]
    # Numbers named with --number that the plan leaves alone, and why.
    skipped: tuple[tuple[str, Skip], ...]
    already: int  # numbers with a route that already fall back to backline
    without_route: int  # numbers of the account the table has no route for (left alone)
    elsewhere_by_app: int  # numbers with a route whose calls go to an app or a trunk


def _skip_reason(row: NumberAudit) -> Skip | None:
    if row.status is Status.NO_VOICE:
        return Skip.NO_VOICE
    if row.route is None:
        return Skip.NO_ROUTE
    if row.fallback is Fallback.NOT_USED:
        return Skip.APP_OR_TRUNK
    if row.fallback is Fallback.OURS:
        return Skip.ALREADY
    return None


def plan(audit: Audit, only: Collection[str] = ()) -> Plan:
    """The changes that make every number with a route fall back to backline.

    ``only`` restricts the plan to those numbers (E.164); each one that cannot be changed is
    listed in ``skipped`` with its reason.
    """
    wanted = set(only)
    changes: list[Change] = []
    skipped: list[tuple[str, Skip]] = []
    already = without_route = by_app = 0
    seen: set[str] = set()
    for row in audit.numbers:
        phone = row.number.phone_number
        if wanted and phone not in wanted:
            continue
        seen.add(phone)
        reason = _skip_reason(row)
        if reason is None:
            changes.append(Change(row.number, audit.fallback_url))
            continue
        if reason is Skip.ALREADY:
            already += 1
        elif reason is Skip.NO_ROUTE:
            without_route += 1
        elif reason is Skip.APP_OR_TRUNK:
            by_app += 1
        if wanted and reason is not Skip.ALREADY:
            skipped.append((phone, reason))
    skipped.extend((phone, Skip.NOT_IN_ACCOUNT) for phone in sorted(wanted - seen))
    return Plan(audit.fallback_url, tuple(changes), tuple(skipped), already, without_route, by_app)


@dataclass(frozen=True, slots=True)
class Outcome:
    change: Change
    error: TwilioApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Applied:
    outcomes: tuple[Outcome, ...]
    # An error that no other number would fare better with (credentials refused, Twilio out
    # of reach): the changes after it were not tried.
    stopped_by: TwilioApiError | None = None
    untried: tuple[Change, ...] = ()

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)


def apply(
    changes: Iterable[Change],
    set_fallback: Callable[[str, str, str], object],
    *,
    done: Callable[[Outcome], None] = lambda outcome: None,
) -> Applied:
    """Make each change with ``set_fallback(account_sid, number_sid, url)``; a number Twilio
    refuses (21405, a 404 for a number released meanwhile, ...) is kept with its error and the
    others go on."""
    todo = list(changes)
    outcomes: list[Outcome] = []
    for index, change in enumerate(todo):
        try:
            set_fallback(change.number.account_sid, change.number.sid, change.url)
        except TwilioApiError as error:
            outcome = Outcome(change, error)
            outcomes.append(outcome)
            done(outcome)
            if error.status in (0, 401):
                return Applied(tuple(outcomes), error, tuple(todo[index + 1 :]))
            continue
        outcome = Outcome(change)
        outcomes.append(outcome)
        done(outcome)
    return Applied(tuple(outcomes))
