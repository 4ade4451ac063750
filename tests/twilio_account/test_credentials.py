"""Which credentials the REST API gets, from the environment as an operator sets it."""

from __future__ import annotations

import pytest

from backline.config import Config
from backline.twilio_account.credentials import MissingCredentials, credentials

SID = "AC" + "a" * 32
KEY = "SK" + "b" * 32


def test_the_account_sid_with_the_first_auth_token() -> None:
    config = Config.from_env(
        {"BACKLINE_TWILIO_ACCOUNT_SID": SID, "BACKLINE_TWILIO_AUTH_TOKEN": "first, second"}
    )
    signed_in = credentials(config)
    assert (signed_in.account_sid, signed_in.username, signed_in.password) == (SID, SID, "first")
    assert signed_in.api_url == "https://api.twilio.com"
    assert "first" not in repr(signed_in)


def test_an_api_key_wins_over_the_token() -> None:
    config = Config.from_env(
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "token",
            "BACKLINE_TWILIO_API_KEY": KEY,
            "BACKLINE_TWILIO_API_SECRET": "s3cret",
            "BACKLINE_TWILIO_API_URL": "https://api.tokyo.us1.twilio.com/",
        }
    )
    signed_in = credentials(config)
    assert (signed_in.username, signed_in.password) == (KEY, "s3cret")
    assert signed_in.api_url == "https://api.tokyo.us1.twilio.com"
    assert signed_in.kind == f"API key {KEY} of account {SID}"
    assert "s3cret" not in repr(config) and "s3cret" not in repr(signed_in)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "BACKLINE_TWILIO_ACCOUNT_SID"),
        ({"BACKLINE_TWILIO_ACCOUNT_SID": "AC123"}, "not an account SID"),
        ({"BACKLINE_TWILIO_ACCOUNT_SID": SID}, "BACKLINE_TWILIO_AUTH_TOKEN"),
        ({"BACKLINE_TWILIO_ACCOUNT_SID": SID, "BACKLINE_TWILIO_API_KEY": KEY}, "_API_SECRET"),
        ({"BACKLINE_TWILIO_ACCOUNT_SID": SID, "BACKLINE_TWILIO_API_SECRET": "x"}, "_API_KEY"),
        (
            {
                "BACKLINE_TWILIO_ACCOUNT_SID": SID,
                "BACKLINE_TWILIO_API_KEY": "AC" + "b" * 32,
                "BACKLINE_TWILIO_API_SECRET": "x",
            },
            "not an API key SID",
        ),
    ],
)
def test_what_is_missing_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(MissingCredentials, match=named):
        credentials(Config.from_env(env))
