"""Twilio's REST API through the official ``twilio`` client: the account's incoming phone
numbers (every page), its subaccounts, its verified caller IDs, and setting a number's fallback.

Two things are added underneath the client, in the HTTP client it takes (the library's own
extension point): ``BACKLINE_TWILIO_API_URL`` replaces the scheme and host of every request
(a stand-in in tests, an edge location), and a 429 is tried again after the wait Twilio's
``Retry-After`` asks for (or a growing, jittered wait). Any other error answer becomes a
:class:`TwilioApiError` carrying Twilio's ``code`` and ``message`` from the error body
(``{"code": 21405, "message": ..., "more_info": ..., "status": 400}``), cleaned for printing.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from backline.notify.channels.http import retry_after_seconds
from backline.twilio_account.credentials import Credentials

__all__ = [
    "DEFAULT_API_URL",
    "Account",
    "TwilioAccount",
    "TwilioApiError",
    "TwilioNumber",
    "retry_delay",
]

DEFAULT_API_URL = "https://api.twilio.com"
# Twilio's largest page; an account's numbers come in one request per thousand.
PAGE_SIZE = 1000
_MESSAGE_MAX = 300


class TwilioApiError(Exception):
    """Twilio answered with an error (or could not be reached: ``status`` 0)."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        if self.status == 0:
            return self.message
        code = f"error {self.code}" if self.code is not None else "an error"
        hint = _HINTS.get(self.code or 0, "")
        return f"Twilio answered {code} (HTTP {self.status}): {self.message}{hint}"


_HINTS = {
    20003: " (check BACKLINE_TWILIO_ACCOUNT_SID and the auth token or API key)",
    20429: " (still rate limited after several tries; run it again later)",
    21405: " (the number has no primary voice URL: set one first; sync never sets it)",
}


def _clean(text: object) -> str:
    """Text from Twilio's answer made safe to print: one line, no control characters, short."""
    flat = " ".join(str(text).split())
    flat = "".join(c for c in flat if c.isprintable())
    return flat[:_MESSAGE_MAX]


def _error(response: Any, method: str, url: str) -> TwilioApiError:
    status = int(response.status_code)
    code: int | None = None
    message = ""
    try:
        body = json.loads(response.text or "")
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        message = _clean(body.get("message") or "")
    if not message:
        message = f"{method} {urlsplit(url).path} was refused"
    return TwilioApiError(status, code, message)


def retry_delay(
    attempt: int, retry_after: float | None, *, base: float, cap: float, jitter: float
) -> float:
    """How long to wait before try ``attempt + 1`` after a 429: what Twilio asked for when it
    said (never more than ``cap``), otherwise ``base`` doubled per try, with ``jitter`` (0 to 1)
    taking up to half of it off so that several clients do not come back together."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    grown: float = min(cap, base * 2.0 ** (attempt - 1))
    return grown * (1.0 - jitter / 2)


class _HttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The library's HTTP client, pointed at ``api_url`` and patient with 429s."""

    def __init__(
        self,
        api_url: str,
        *,
        tries: int,
        base_delay: float,
        max_delay: float,
        sleep: Callable[[float], None],
        timeout: float,
    ) -> None:
        # The library logs every request and response at INFO; a command's output is its own.
        quiet = logging.getLogger("backline.twilio_account.http")
        quiet.setLevel(logging.WARNING)
        super().__init__(timeout=timeout, logger=quiet)
        self.base = None if api_url.rstrip("/") == DEFAULT_API_URL else urlsplit(api_url)
        self.tries = tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.waited: list[float] = []

    def _rebased(self, url: str) -> str:
        if self.base is None:
            return url
        parts = urlsplit(url)
        path = self.base.path.rstrip("/") + parts.path
        return urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        import requests

        url = self._rebased(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = super().request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=allow_redirects,
                )
            except requests.RequestException as error:
                where = urlsplit(url).netloc
                reason = _clean(type(error).__name__)
                raise TwilioApiError(0, None, f"cannot reach Twilio at {where}: {reason}") from None
            if response.status_code != 429 or attempt >= self.tries:
                break
            headers_in = response.headers or {}
            wait = retry_delay(
                attempt,
                retry_after_seconds(headers_in.get("Retry-After")),
                base=self.base_delay,
                cap=self.max_delay,
                jitter=random.random(),
            )
            self.waited.append(wait)
            self.sleep(wait)
        if response.status_code >= 400:
            raise _error(response, method, url)
        return response


@dataclass(frozen=True, slots=True)
class TwilioNumber:
    """One IncomingPhoneNumber, the fields the audit reads (``""`` where Twilio has null)."""

    account_sid: str
    sid: str
    phone_number: str
    friendly_name: str
    voice_url: str
    voice_method: str
    voice_fallback_url: str
    voice_fallback_method: str
    voice_application_sid: str = ""
    trunk_sid: str = ""
    voice_capable: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "sid": self.sid,
            "phone_number": self.phone_number,
            "friendly_name": self.friendly_name,
            "voice_url": self.voice_url,
            "voice_method": self.voice_method,
            "voice_fallback_url": self.voice_fallback_url,
            "voice_fallback_method": self.voice_fallback_method,
            "voice_application_sid": self.voice_application_sid,
            "trunk_sid": self.trunk_sid,
            "voice_capable": self.voice_capable,
        }


@dataclass(frozen=True, slots=True)
class Account:
    sid: str
    friendly_name: str
    status: str
    main: bool


def _text(value: object) -> str:
    return "" if value is None else _clean(value)


def _number(account_sid: str, item: Any) -> TwilioNumber:
    capabilities = getattr(item, "capabilities", None)
    voice = capabilities.get("voice", True) if isinstance(capabilities, dict) else True
    return TwilioNumber(
        account_sid=_text(getattr(item, "account_sid", None)) or account_sid,
        sid=_text(item.sid),
        phone_number=_text(item.phone_number),
        friendly_name=_text(item.friendly_name),
        voice_url=_text(item.voice_url),
        voice_method=_text(item.voice_method).upper(),
        voice_fallback_url=_text(item.voice_fallback_url),
        voice_fallback_method=_text(item.voice_fallback_method).upper(),
        voice_application_sid=_text(getattr(item, "voice_application_sid", None)),
        trunk_sid=_text(getattr(item, "trunk_sid", None)),
        voice_capable=voice is not False,
    )


class TwilioAccount:
    """The REST calls backline makes, each answering plain values or raising TwilioApiError."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        tries: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        from twilio.rest import Client

        self.credentials = credentials
        self.http = _HttpClient(
            credentials.api_url,
            tries=tries,
            base_delay=base_delay,
            max_delay=max_delay,
            sleep=sleep,
            timeout=timeout,
        )
        # An explicit (empty) edge and region: with an API URL of our own the host is ours to
        # say, and TWILIO_EDGE/TWILIO_REGION from the environment would otherwise rename it.
        self.client = Client(
            credentials.username,
            credentials.password,
            credentials.account_sid,
            http_client=self.http,
            environment={"BACKLINE": "1"},
        )

    @property
    def waited(self) -> list[float]:
        """The waits taken after 429 answers so far, in seconds."""
        return self.http.waited

    def accounts(self) -> list[Account]:
        """The main account and its subaccounts (Twilio's Accounts list: every page)."""
        main = self.credentials.account_sid
        found: dict[str, Account] = {}
        for item in self.client.api.v2010.accounts.stream(page_size=PAGE_SIZE):
            sid = _text(item.sid)
            found[sid] = Account(
                sid, _text(item.friendly_name), _text(item.status) or "active", sid == main
            )
        if main not in found:
            found[main] = Account(main, "", "active", True)
        return sorted(found.values(), key=lambda account: (not account.main, account.sid))

    def numbers(self, account_sid: str) -> Iterator[TwilioNumber]:
        """Every IncomingPhoneNumber of the account, following ``next_page_uri``."""
        listing = self.client.api.v2010.accounts(account_sid).incoming_phone_numbers
        for item in listing.stream(page_size=PAGE_SIZE):
            yield _number(account_sid, item)

    def caller_ids(self, account_sid: str) -> set[str]:
        """The account's verified outgoing caller IDs (numbers it may show besides its own)."""
        listing = self.client.api.v2010.accounts(account_sid).outgoing_caller_ids
        return {_text(item.phone_number) for item in listing.stream(page_size=PAGE_SIZE)}

    def set_fallback(self, account_sid: str, number_sid: str, url: str) -> TwilioNumber:
        """Set the number's "Primary handler fails" URL and method (POST); nothing else."""
        context = self.client.api.v2010.accounts(account_sid).incoming_phone_numbers(number_sid)
        item = context.update(voice_fallback_url=url, voice_fallback_method="POST")
        return _number(account_sid, item)
