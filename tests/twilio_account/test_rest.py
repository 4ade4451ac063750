"""The official twilio client as backline sets it up, against the stand-in for Twilio's API:
paging, the update it sends, 429s tried again, Twilio's error bodies."""

from __future__ import annotations

import logging
import socket

import pytest

from backline.twilio_account.credentials import Credentials
from backline.twilio_account.rest import TwilioAccount, TwilioApiError, retry_delay
from tests.twilio_account.conftest import FALLBACK, MainAccount


def _client(account: MainAccount, **options: object) -> TwilioAccount:
    credentials = Credentials(account.sid, account.sid, account.token, account.api.url)
    return TwilioAccount(credentials, **options)  # type: ignore[arg-type]


def test_every_page_is_read_by_following_next_page_uri(account: MainAccount) -> None:
    phones = [f"+8150123456{i:02d}" for i in range(5)]
    for phone in phones:
        account.api.add_number(account.sid, phone)

    listed = list(_client(account).numbers(account.sid))

    assert [number.phone_number for number in listed] == phones
    pages = [seen for seen in account.api.requests if seen.path.endswith("Numbers.json")]
    assert len(pages) == 3  # 2 + 2 + 1
    assert "PageToken" not in pages[0].query
    # The second and third requests are the next_page_uri Twilio gave, token and all.
    assert pages[1].query["PageToken"] == "PA" + listed[1].sid
    assert pages[2].query["PageToken"] == "PA" + listed[3].sid
    assert {seen.user for seen in pages} == {account.sid}


def test_the_fields_of_a_number(account: MainAccount) -> None:
    account.api.add_number(
        account.sid,
        "+815012345678",
        friendly_name="Sakura Dental",
        fallback_url=FALLBACK,
        fallback_method="GET",
    )
    account.api.add_number(account.sid, "+815012345679", application_sid="AP" + "a" * 32)
    account.api.add_number(account.sid, "+815012345670", voice=False, voice_url=None)

    first, second, third = _client(account).numbers(account.sid)

    assert first.friendly_name == "Sakura Dental"
    assert first.voice_url == "https://ivr.example.com/twilio/incoming"
    assert (first.voice_fallback_url, first.voice_fallback_method) == (FALLBACK, "GET")
    assert first.account_sid == account.sid and first.sid.startswith("PN")
    assert second.voice_application_sid == "AP" + "a" * 32
    assert (third.voice_url, third.voice_capable) == ("", False)


def test_setting_a_fallback_sends_the_fallback_and_nothing_else(account: MainAccount) -> None:
    resource = account.api.add_number(account.sid, "+815012345678")

    number = _client(account).set_fallback(account.sid, resource["sid"], FALLBACK)

    (update,) = account.api.updates()
    assert update.path.endswith(
        f"/Accounts/{account.sid}/IncomingPhoneNumbers/{resource['sid']}.json"
    )
    assert update.form == {"VoiceFallbackUrl": [FALLBACK], "VoiceFallbackMethod": ["POST"]}
    assert number.voice_fallback_url == FALLBACK
    assert resource["voice_url"] == "https://ivr.example.com/twilio/incoming"


def test_error_21405_comes_with_twilios_code_and_message(account: MainAccount) -> None:
    resource = account.api.add_number(account.sid, "+815012345678", voice_url=None)

    with pytest.raises(TwilioApiError) as raised:
        _client(account).set_fallback(account.sid, resource["sid"], FALLBACK)

    assert (raised.value.status, raised.value.code) == (400, 21405)
    assert "Cannot set VoiceFallbackUrl without setting Url" in str(raised.value)
    assert "set one first" in str(raised.value)


def test_refused_credentials_are_error_20003_without_the_secret(account: MainAccount) -> None:
    wrong = Credentials(account.sid, account.sid, "not-the-token", account.api.url)

    with pytest.raises(TwilioApiError) as raised:
        list(TwilioAccount(wrong).numbers(account.sid))

    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert "Authenticate" in str(raised.value) and "not-the-token" not in str(raised.value)


def test_an_api_key_signs_in_for_its_account(account: MainAccount) -> None:
    account.api.add_number(account.sid, "+815012345678")
    key, secret = account.api.add_api_key(account.sid)

    client = TwilioAccount(Credentials(account.sid, key, secret, account.api.url))

    assert [number.phone_number for number in client.numbers(account.sid)] == ["+815012345678"]
    assert account.api.requests[-1].user == key


def test_a_429_is_tried_again_after_the_wait_twilio_asks_for(account: MainAccount) -> None:
    account.api.add_number(account.sid, "+815012345678")
    account.api.rate_limited += ["0.01", "0.02"]
    slept: list[float] = []
    client = _client(account, sleep=slept.append)

    assert [number.phone_number for number in client.numbers(account.sid)] == ["+815012345678"]
    assert [seen.status for seen in account.api.requests] == [429, 429, 200]
    assert slept == client.waited == [0.01, 0.02]


def test_an_update_answered_429_is_tried_again(account: MainAccount) -> None:
    resource = account.api.add_number(account.sid, "+815012345678")
    account.api.rate_limited += [""]  # no Retry-After: backline's own backoff
    slept: list[float] = []

    _client(account, sleep=slept.append, base_delay=0.01).set_fallback(
        account.sid, resource["sid"], FALLBACK
    )

    assert [seen.status for seen in account.api.updates()] == [429, 200]
    assert len(slept) == 1 and 0.005 <= slept[0] <= 0.01
    assert resource["voice_fallback_url"] == FALLBACK


def test_still_rate_limited_after_every_try_is_an_error(account: MainAccount) -> None:
    account.api.rate_limited += ["0"] * 3

    with pytest.raises(TwilioApiError) as raised:
        list(_client(account, tries=3, sleep=lambda _: None).numbers(account.sid))

    assert (raised.value.status, raised.value.code) == (429, 20429)
    assert len(account.api.requests) == 3


def test_twilio_out_of_reach_is_said_in_one_sentence(account: MainAccount) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    credentials = Credentials(account.sid, account.sid, account.token, f"http://127.0.0.1:{port}")

    with pytest.raises(TwilioApiError) as raised:
        list(TwilioAccount(credentials, timeout=2).numbers(account.sid))

    assert raised.value.status == 0
    assert str(raised.value).startswith(f"cannot reach Twilio at 127.0.0.1:{port}")


def test_subaccounts_are_listed_with_the_main_account_first(account: MainAccount) -> None:
    sub, _ = account.api.add_account("Client A", owner=account.sid)
    closed, _ = account.api.add_account("Old client", owner=account.sid, status="closed")
    account.api.add_account("Someone else")

    accounts = _client(account).accounts()

    assert [(each.sid, each.main, each.status) for each in accounts] == [
        (account.sid, True, "active"),
        *sorted([(sub, False, "active"), (closed, False, "closed")]),
    ]


@pytest.mark.parametrize(
    ("attempt", "retry_after", "jitter", "wait"),
    [
        (1, 7.0, 0.5, 7.0),  # what Twilio asked for, whatever the jitter
        (1, 600.0, 0.0, 60.0),  # but never more than the cap
        (1, None, 0.0, 1.0),
        (2, None, 0.0, 2.0),
        (3, None, 0.0, 4.0),
        (3, None, 1.0, 2.0),  # jitter takes at most half off
        (10, None, 0.0, 60.0),
    ],
)
def test_retry_delay(attempt: int, retry_after: float | None, jitter: float, wait: float) -> None:
    assert retry_delay(attempt, retry_after, base=1.0, cap=60.0, jitter=jitter) == wait


def test_the_librarys_request_logging_stays_out_of_a_commands_output(
    account: MainAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    account.api.add_number(account.sid, "+815012345678")

    list(_client(account).numbers(account.sid))

    assert [record.getMessage() for record in caplog.records] == []
