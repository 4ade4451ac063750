"""A stand-in for Twilio's REST API per test, with one main account in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.twilio_api import TwilioStandIn

PUBLIC = "https://backline.example.com"
FALLBACK = PUBLIC + "/twilio/voice/fallback"


@dataclass
class MainAccount:
    api: TwilioStandIn
    sid: str
    token: str

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a command runs in to use this account through the stand-in."""
        return {
            "BACKLINE_TWILIO_API_URL": self.api.url,
            "BACKLINE_TWILIO_ACCOUNT_SID": self.sid,
            "BACKLINE_TWILIO_AUTH_TOKEN": self.token,
            "BACKLINE_PUBLIC_URL": PUBLIC,
            "COLUMNS": "200",
            **extra,
        }


@pytest.fixture
def twilio_api() -> Iterator[TwilioStandIn]:
    # Pages of two: every listing of more than two numbers follows next_page_uri.
    stand_in = TwilioStandIn(page_size_cap=2)
    yield stand_in
    stand_in.close()


@pytest.fixture
def account(twilio_api: TwilioStandIn) -> MainAccount:
    sid, token = twilio_api.add_account("Backline test")
    return MainAccount(twilio_api, sid, token)
