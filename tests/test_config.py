"""Settings read from the environment: several auth tokens, the public URL, the default region."""

from __future__ import annotations

import pytest

from backline.config import Config, ConfigError


def test_several_auth_tokens_comma_separated() -> None:
    config = Config.from_env({"BACKLINE_TWILIO_AUTH_TOKEN": " aaa , bbb,,aaa ,"})
    assert config.auth_tokens == ("aaa", "bbb")
    assert config.rest_auth_token == "aaa"  # the first one is the account's, for the REST API
    assert Config.from_env({"TWILIO_AUTH_TOKEN": "ccc"}).auth_tokens == ("ccc",)


def test_only_commas_is_no_token_at_all() -> None:
    config = Config.from_env(
        {"BACKLINE_TWILIO_AUTH_TOKEN": " , ", "BACKLINE_PUBLIC_URL": "https://x.example.com"}
    )
    with pytest.raises(ConfigError, match="BACKLINE_TWILIO_AUTH_TOKEN"):
        config.check_can_serve()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("https://x.example.com/Prod/twilio/voice/fallback", "https://x.example.com/Prod "),
        ("https://x.example.com/?a=1", "?query"),
        ("https://x.example.com/#ct=500", "#fragment"),
    ],
)
def test_a_public_url_that_cannot_be_signed_over_is_refused(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_env({"BACKLINE_PUBLIC_URL": value})
    assert "BACKLINE_PUBLIC_URL" in str(error.value) and words in str(error.value)


def test_the_default_region() -> None:
    assert Config.from_env({"BACKLINE_DEFAULT_REGION": " jp "}).default_region == "JP"
    assert Config.from_env({}).default_region == ""
    with pytest.raises(ConfigError, match="BACKLINE_DEFAULT_REGION"):
        Config.from_env({"BACKLINE_DEFAULT_REGION": "Japan"})
