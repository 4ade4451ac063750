"""Which credentials the REST API is called with, from the configuration.

An API key (``BACKLINE_TWILIO_API_KEY`` + ``BACKLINE_TWILIO_API_SECRET``) when one is set,
otherwise the account SID with the first of ``BACKLINE_TWILIO_AUTH_TOKEN`` (the others sign
subaccounts' requests or are mid-rotation). The twilio library's ``TWILIO_ACCOUNT_SID`` and
``TWILIO_AUTH_TOKEN`` are read when backline's own are unset (see :mod:`backline.config`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backline.config import Config

__all__ = ["Credentials", "MissingCredentials", "credentials"]

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")


class MissingCredentials(ValueError):
    """The settings do not let backline call Twilio's REST API; the message names them."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the REST client authenticates with. ``password`` is never shown or logged."""

    account_sid: str
    username: str
    password: str = field(repr=False)
    api_url: str

    @property
    def kind(self) -> str:
        """How backline signs in, for messages: never the secret itself."""
        if self.username == self.account_sid:
            return f"account {self.account_sid} with its auth token"
        return f"API key {self.username} of account {self.account_sid}"


def credentials(config: Config) -> Credentials:
    """The credentials in ``config``; :class:`MissingCredentials` says what to set."""
    account = config.twilio_account_sid
    if not account:
        raise MissingCredentials(
            "set BACKLINE_TWILIO_ACCOUNT_SID (or TWILIO_ACCOUNT_SID) to the account's SID, AC..."
        )
    if not _ACCOUNT_SID.fullmatch(account):
        raise MissingCredentials(
            f"BACKLINE_TWILIO_ACCOUNT_SID={account[:40]!r} is not an account SID "
            f"(AC and 32 hexadecimal digits)"
        )
    key, secret = config.twilio_api_key, config.twilio_api_secret
    if key or secret:
        if not (key and secret):
            missing = "BACKLINE_TWILIO_API_SECRET" if key else "BACKLINE_TWILIO_API_KEY"
            raise MissingCredentials(f"an API key needs both its SID and its secret: set {missing}")
        if not _API_KEY_SID.fullmatch(key):
            raise MissingCredentials(
                f"BACKLINE_TWILIO_API_KEY={key[:40]!r} is not an API key SID "
                f"(SK and 32 hexadecimal digits)"
            )
        return Credentials(account, key, secret, config.twilio_api_url)
    token = config.rest_auth_token
    if not token:
        raise MissingCredentials(
            "set BACKLINE_TWILIO_AUTH_TOKEN (or TWILIO_AUTH_TOKEN), or an API key with "
            "BACKLINE_TWILIO_API_KEY and BACKLINE_TWILIO_API_SECRET"
        )
    return Credentials(account, account, token, config.twilio_api_url)
