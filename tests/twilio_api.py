"""A stand-in for Twilio's REST API (2010-04-01) on 127.0.0.1, for the official client to talk
to as it talks to Twilio: Basic auth with an account's auth token or an API key, the Accounts,
IncomingPhoneNumbers and OutgoingCallerIds lists in pages (``PageSize``, ``Page``,
``PageToken``, ``next_page_uri``), the IncomingPhoneNumber update, and Twilio's error bodies
(``{"code", "message", "more_info", "status"}``): 20003 for refused credentials, 20404 for an
unknown resource, 21405 for a fallback URL on a number without a voice URL, 21402 for a URL
that is not one, 429 (code 20429, with ``Retry-After``) when told to.

Resource shapes follow Twilio's published OpenAPI description of the API. Every request is kept
in ``requests`` so that tests can check exactly what was sent.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

_VERSION = "/2010-04-01"
_ids = itertools.count(1)


def sid(prefix: str) -> str:
    return f"{prefix}{next(_ids):032x}"


def _now() -> str:
    return formatdate(usegmt=False).replace("-0000", "+0000")


@dataclass
class Seen:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, list[str]]
    user: str
    status: int = 0


@dataclass
class _Account:
    sid: str
    auth_token: str
    friendly_name: str
    owner: str
    status: str = "active"
    numbers: list[dict[str, Any]] = field(default_factory=list)
    caller_ids: list[dict[str, Any]] = field(default_factory=list)


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class TwilioStandIn:
    def __init__(self, *, page_size_cap: int = 1000) -> None:
        self.accounts: dict[str, _Account] = {}
        self.api_keys: dict[str, tuple[str, str]] = {}
        self.requests: list[Seen] = []
        # Retry-After values ("" for none): each of the next requests is answered 429 with one.
        self.rate_limited: list[str] = []
        self.page_size_cap = page_size_cap
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                form = parse_qs(body, keep_blank_values=True) if method == "POST" else {}
                user, password = _basic(self.headers.get("Authorization", ""))
                seen = Seen(method, parts.path, query, form, user)
                with stand_in.lock:
                    stand_in.requests.append(seen)
                    headers: dict[str, str] = {}
                    if stand_in.rate_limited:
                        retry_after = stand_in.rate_limited.pop(0)
                        status, document = _error(429, 20429, "Too Many Requests")
                        if retry_after:
                            headers["Retry-After"] = retry_after
                    else:
                        status, document = stand_in.answer(
                            method, parts.path, query, form, user, password
                        )
                    seen.status = status
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    # -- setting the account up ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_account(
        self,
        friendly_name: str = "Main",
        *,
        owner: str | None = None,
        status: str = "active",
        account_sid: str | None = None,
        auth_token: str | None = None,
    ) -> tuple[str, str]:
        """A main account (or a subaccount of ``owner``); returns its SID and auth token."""
        account_sid = account_sid or sid("AC")
        auth_token = auth_token or f"{next(_ids):032x}"
        self.accounts[account_sid] = _Account(
            account_sid, auth_token, friendly_name, owner or account_sid, status
        )
        return account_sid, auth_token

    def add_api_key(self, account_sid: str) -> tuple[str, str]:
        key, secret = sid("SK"), f"secret{next(_ids):026x}"
        self.api_keys[key] = (secret, account_sid)
        return key, secret

    def add_number(
        self,
        account_sid: str,
        phone_number: str,
        *,
        friendly_name: str | None = None,
        voice_url: str | None = "https://ivr.example.com/twilio/incoming",
        fallback_url: str | None = None,
        fallback_method: str = "POST",
        application_sid: str = "",
        trunk_sid: str | None = None,
        voice: bool = True,
    ) -> dict[str, Any]:
        number_sid = sid("PN")
        now = _now()
        resource = {
            "account_sid": account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": "2010-04-01",
            "beta": False,
            "capabilities": {"voice": voice, "sms": True, "mms": False, "fax": False},
            "date_created": now,
            "date_updated": now,
            "emergency_status": "Inactive",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "friendly_name": friendly_name or phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": phone_number,
            "sid": number_sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status_callback": "",
            "status_callback_method": "POST",
            "trunk_sid": trunk_sid,
            "uri": f"{_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{number_sid}.json",
            "voice_application_sid": application_sid,
            "voice_caller_id_lookup": False,
            "voice_fallback_method": fallback_method,
            "voice_fallback_url": fallback_url,
            "voice_method": "POST",
            "voice_url": voice_url,
            "bundle_sid": None,
            "voice_receive_mode": "voice",
            "status": "in-use",
            "type": "local",
            "subresource_uris": {
                "assigned_add_ons": f"{_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/"
                f"{number_sid}/AssignedAddOns.json"
            },
        }
        self.accounts[account_sid].numbers.append(resource)
        return resource

    def add_caller_id(self, account_sid: str, phone_number: str) -> None:
        caller_sid = sid("PN")
        self.accounts[account_sid].caller_ids.append(
            {
                "account_sid": account_sid,
                "date_created": _now(),
                "date_updated": _now(),
                "friendly_name": phone_number,
                "phone_number": phone_number,
                "sid": caller_sid,
                "uri": f"{_VERSION}/Accounts/{account_sid}/OutgoingCallerIds/{caller_sid}.json",
            }
        )

    def number(self, phone_number: str) -> dict[str, Any]:
        for account in self.accounts.values():
            for resource in account.numbers:
                if resource["phone_number"] == phone_number:
                    return resource
        raise KeyError(phone_number)

    def updates(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answering ---------------------------------------------------------------------------------

    def _principal(self, user: str, password: str) -> str | None:
        account = self.accounts.get(user)
        if account is not None and password == account.auth_token:
            return account.sid
        key = self.api_keys.get(user)
        if key is not None and password == key[0]:
            return key[1]
        return None

    def _may_see(self, principal: str, account_sid: str) -> bool:
        account = self.accounts.get(account_sid)
        return account is not None and principal in (account.sid, account.owner)

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, list[str]],
        user: str,
        password: str,
    ) -> tuple[int, dict[str, Any]]:
        principal = self._principal(user, password)
        if principal is None:
            return _error(401, 20003, "Authenticate")
        pieces = path.removeprefix(_VERSION + "/").split("/")
        if method == "GET" and pieces == ["Accounts.json"]:
            visible = [
                _account_json(account)
                for account in self.accounts.values()
                if principal in (account.sid, account.owner)
            ]
            return 200, _page(path, query, "accounts", visible, self.page_size_cap)
        if len(pieces) < 3 or pieces[0] != "Accounts":
            return _not_found(path)
        account_sid = pieces[1]
        if not self._may_see(principal, account_sid):
            return _error(401, 20003, "Authenticate")
        account = self.accounts[account_sid]
        if method == "GET" and pieces[2:] == ["IncomingPhoneNumbers.json"]:
            items = account.numbers
            return 200, _page(path, query, "incoming_phone_numbers", items, self.page_size_cap)
        if method == "GET" and pieces[2:] == ["OutgoingCallerIds.json"]:
            items = account.caller_ids
            return 200, _page(path, query, "outgoing_caller_ids", items, self.page_size_cap)
        if method == "POST" and len(pieces) == 4 and pieces[2] == "IncomingPhoneNumbers":
            number_sid = pieces[3].removesuffix(".json")
            for resource in account.numbers:
                if resource["sid"] == number_sid:
                    return _update(resource, form)
        return _not_found(path)


_UPDATABLE = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "StatusCallback": "status_callback",
}


def _update(resource: dict[str, Any], form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    values = {key: items[-1] for key, items in form.items()}
    for key in ("VoiceUrl", "VoiceFallbackUrl"):
        url = values.get(key)
        if url and urlsplit(url).scheme not in ("http", "https"):
            return _error(400, 21402, f"Url is not valid: {url}")
    for key in ("VoiceMethod", "VoiceFallbackMethod"):
        if key in values and values[key] not in ("GET", "POST"):
            return _error(400, 21403, f"{key} is not valid: {values[key]}")
    voice_url = values.get("VoiceUrl", resource["voice_url"])
    if values.get("VoiceFallbackUrl") and not voice_url:
        return _error(400, 21405, "Cannot set VoiceFallbackUrl without setting Url")
    for key, value in values.items():
        if key in _UPDATABLE:
            resource[_UPDATABLE[key]] = value
    resource["date_updated"] = _now()
    return 200, resource


def _not_found(path: str) -> tuple[int, dict[str, Any]]:
    return _error(404, 20404, f"The requested resource {path} was not found")


def _account_json(account: _Account) -> dict[str, Any]:
    base = f"{_VERSION}/Accounts/{account.sid}"
    return {
        "auth_token": account.auth_token,
        "date_created": _now(),
        "date_updated": _now(),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "outgoing_caller_ids": f"{base}/OutgoingCallerIds.json",
        },
        "type": "Full",
        "uri": f"{base}.json",
    }


def _page(
    path: str, query: dict[str, str], key: str, items: list[dict[str, Any]], cap: int
) -> dict[str, Any]:
    """One page as Twilio's 2010 API pages lists: ``next_page_uri`` carries a ``PageToken``
    (the last SID of this page) that the next request must send back."""
    size = max(1, min(int(query.get("PageSize", "50")), 1000, cap))
    page = int(query.get("Page", "0"))
    token = query.get("PageToken")
    start = page * size
    if token is not None:
        after = token.removeprefix("PA")
        sids = [item["sid"] for item in items]
        if after not in sids:
            raise ValueError(f"unknown PageToken {token}")
        start = sids.index(after) + 1
    chunk = items[start : start + size]

    def uri(number: int, extra: dict[str, str] | None = None) -> str:
        return f"{path}?{urlencode({'PageSize': size, 'Page': number, **(extra or {})})}"

    more = start + size < len(items)
    return {
        "first_page_uri": uri(0),
        "end": start + len(chunk) - 1 if chunk else start,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        key: chunk,
        "uri": uri(page, {"PageToken": token} if token else None),
        "page_size": size,
        "start": start,
        "next_page_uri": uri(page + 1, {"PageToken": "PA" + chunk[-1]["sid"]}) if more else None,
        "page": page,
    }


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


def running() -> Iterator[TwilioStandIn]:
    stand_in = TwilioStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()
