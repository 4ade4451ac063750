"""The sync plan, pure, and applying it: one failure never stops the others."""

from __future__ import annotations

import pytest

from backline.twilio_account.audit import Audit, audit
from backline.twilio_account.rest import TwilioApiError
from backline.twilio_account.sync import Skip, apply, plan
from tests.twilio_account.conftest import FALLBACK
from tests.twilio_account.test_audit import number, route


def _audit() -> Audit:
    numbers = [
        number("+815012345601", FALLBACK),  # already covered
        number("+815012345602"),  # missing: set
        number("+815012345603", "https://old.example.com/f"),  # elsewhere: set
        number("+815012345604", FALLBACK, "GET"),  # ours with GET: set (POST)
        number("+815012345605", voice_application_sid="AP" + "b" * 32),  # app: left
        number("+815012345606"),  # no route: left
        number("+815012345607", voice_capable=False),
    ]
    routes = [route(f"+81501234560{i}") for i in (1, 2, 3, 4, 5, 7)]
    return audit(numbers, routes, FALLBACK)


def test_the_plan_sets_every_number_with_a_route_that_does_not_fall_back_here() -> None:
    todo = plan(_audit())

    assert [change.number.phone_number for change in todo.changes] == [
        "+815012345602",
        "+815012345603",
        "+815012345604",
    ]
    assert {change.url for change in todo.changes} == {FALLBACK}
    assert (todo.already, todo.without_route, todo.elsewhere_by_app) == (1, 1, 1)
    assert todo.skipped == ()
    assert todo.changes[0].before == "(none)"
    assert todo.changes[2].before == f"{FALLBACK} (GET)"


def test_named_numbers_only_and_why_the_others_are_left() -> None:
    only = ["+815012345603", "+815012345605", "+815012345606", "+815012345601", "+819999999999"]

    todo = plan(_audit(), only)

    assert [change.number.phone_number for change in todo.changes] == ["+815012345603"]
    assert dict(todo.skipped) == {
        "+815012345605": Skip.APP_OR_TRUNK,
        "+815012345606": Skip.NO_ROUTE,
        "+819999999999": Skip.NOT_IN_ACCOUNT,
    }


def test_a_synced_account_has_nothing_left_to_do() -> None:
    synced = audit([number("+815012345602", FALLBACK)], [route("+815012345602")], FALLBACK)

    assert plan(synced).changes == ()


def test_one_refused_number_does_not_stop_the_others() -> None:
    todo = plan(_audit())
    refused = todo.changes[0].number.sid
    sent: list[str] = []

    def set_fallback(account_sid: str, number_sid: str, url: str) -> None:
        sent.append(number_sid)
        if number_sid == refused:
            raise TwilioApiError(400, 21405, "Cannot set VoiceFallbackUrl without setting Url")

    seen: list[bool] = []
    applied = apply(todo.changes, set_fallback, done=lambda outcome: seen.append(outcome.ok))

    assert sent == [change.number.sid for change in todo.changes]
    assert seen == [False, True, True]
    assert [outcome.error.code for outcome in applied.failed] == [21405]  # type: ignore[union-attr]
    assert applied.stopped_by is None


@pytest.mark.parametrize("status", [401, 0])
def test_refused_credentials_or_no_twilio_stop_at_once(status: int) -> None:
    todo = plan(_audit())

    def set_fallback(account_sid: str, number_sid: str, url: str) -> None:
        raise TwilioApiError(status, 20003 if status else None, "Authenticate")

    applied = apply(todo.changes, set_fallback)

    assert len(applied.outcomes) == 1 and applied.stopped_by is not None
    assert applied.untried == todo.changes[1:]
