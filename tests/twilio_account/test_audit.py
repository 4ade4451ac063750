"""The audit's decisions, pure: what counts as covered, and what does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backline.twilio_account.audit import Fallback, RouteFacts, Status, audit, fallback_of, same_url
from backline.twilio_account.rest import TwilioNumber
from tests.twilio_account.conftest import FALLBACK

ACCOUNT = "AC" + "1" * 32
OTHER_ACCOUNT = "AC" + "2" * 32


def number(phone: str, fallback: str = "", method: str = "POST", **fields: object) -> TwilioNumber:
    base = TwilioNumber(
        account_sid=ACCOUNT,
        sid="PN" + phone[1:].rjust(32, "0"),
        phone_number=phone,
        friendly_name=phone,
        voice_url="https://ivr.example.com/voice",
        voice_method="POST",
        voice_fallback_url=fallback,
        voice_fallback_method=method,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def route(phone: str, caller_id: str = "twilio-number") -> RouteFacts:
    return RouteFacts(phone, caller_id)


@pytest.mark.parametrize(
    ("fallback", "method", "fields", "expected"),
    [
        (FALLBACK, "POST", {}, Fallback.OURS),
        (FALLBACK, "", {}, Fallback.OURS),  # Twilio's default method is POST
        ("HTTPS://Backline.Example.COM/twilio/voice/fallback", "POST", {}, Fallback.OURS),
        (FALLBACK + "#rc=2", "POST", {}, Fallback.OURS),  # connection overrides: still here
        (FALLBACK, "GET", {}, Fallback.WRONG_METHOD),
        ("", "POST", {}, Fallback.MISSING),
        ("  ", "POST", {}, Fallback.MISSING),
        ("https://old.example.com/fallback", "POST", {}, Fallback.ELSEWHERE),
        (FALLBACK + "/", "POST", {}, Fallback.ELSEWHERE),  # another path is another URL
        ("https://backline.example.com/Twilio/voice/fallback", "POST", {}, Fallback.ELSEWHERE),
        (FALLBACK, "POST", {"voice_application_sid": "AP" + "a" * 32}, Fallback.NOT_USED),
        (FALLBACK, "POST", {"trunk_sid": "TK" + "a" * 32}, Fallback.NOT_USED),
    ],
)
def test_where_a_number_falls_back(
    fallback: str, method: str, fields: dict[str, object], expected: Fallback
) -> None:
    assert fallback_of(number("+815012345678", fallback, method, **fields), FALLBACK) is expected


def test_same_url_never_matches_an_empty_one() -> None:
    assert not same_url("", "")
    assert same_url("https://a.example.com", "https://A.example.com/")


def test_statuses_and_counts() -> None:
    numbers = [
        number("+815012345601", FALLBACK),  # covered
        number("+815012345602"),  # fallback missing
        number("+815012345603", "https://old.example.com/f"),  # elsewhere
        number("+815012345604", FALLBACK, "GET"),  # ours with GET: elsewhere
        number("+815012345605", FALLBACK, voice_application_sid="AP" + "b" * 32),  # app
        number("+815012345606", FALLBACK),  # no route, though it falls back here
        number("+815012345607", voice_capable=False),  # no voice: not counted
    ]
    routes = [route(f"+81501234560{i}") for i in (1, 2, 3, 4, 5)] + [route("+815099999999")]

    result = audit(numbers, routes, FALLBACK)

    assert [row.status for row in result.numbers] == [
        Status.COVERED,
        Status.FALLBACK_MISSING,
        Status.FALLBACK_ELSEWHERE,
        Status.FALLBACK_ELSEWHERE,
        Status.FALLBACK_ELSEWHERE,
        Status.NO_ROUTE,
        Status.NO_VOICE,
    ]
    assert result.not_in_account == ("+815099999999",)
    assert result.counts == {
        "numbers": 7,
        "covered": 1,
        "fallback_missing": 1,
        "fallback_elsewhere": 3,
        "no_route": 1,
        "routes_not_in_account": 1,
        "caller_id_not_in_account": 0,
        "no_voice": 1,
    }
    assert not result.all_covered
    assert "TwiML App AP" in result.numbers[4].detail
    assert result.numbers[3].detail == "fallback is backline but with GET"


def test_all_covered_needs_every_number_and_every_route() -> None:
    numbers = [number("+815012345601", FALLBACK), number("+815012345602", voice_capable=False)]

    assert audit(numbers, [route("+815012345601")], FALLBACK).all_covered
    assert not audit(numbers, [], FALLBACK).all_covered  # no route
    extra = [route("+815012345601"), route("+815012345609")]
    assert not audit(numbers, extra, FALLBACK).all_covered  # a route for a stranger
    assert audit([], [], FALLBACK).all_covered  # nothing to protect


def test_an_explicit_caller_id_must_be_a_number_of_the_same_account() -> None:
    numbers = [
        number("+815012345601", FALLBACK),
        number("+815012345602", FALLBACK),
        number("+815012345603", FALLBACK, account_sid=OTHER_ACCOUNT),
    ]
    routes = [
        route("+815012345601", "+815012345602"),  # a number of its own account: fine
        route("+815012345602", "+815012345603"),  # a number of another (sub)account: refused
        route("+815012345603", "caller"),  # a policy needs nothing
    ]

    result = audit(numbers, routes, FALLBACK)

    problems = [row.caller_id_problem for row in result.numbers]
    assert problems[0] is None and problems[2] is None
    assert problems[1] is not None and "+815012345603" in problems[1]
    assert not result.all_covered
    # A caller ID verified for the account is allowed.
    verified = {ACCOUNT: {"+815012345603"}}
    assert audit(numbers, routes, FALLBACK, verified).all_covered
