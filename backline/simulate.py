"""`backline simulate`: walk one diverted call through backline as Twilio would.

Each request is form-encoded and signed over the public URL exactly like Twilio's, so a route,
a token and a public URL can all be checked before a real outage. In-process, the table is read
from the configured database but calls are recorded in a scratch database, so the team is not
notified of a rehearsal; against a running URL the call is real in every way but the phone.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from backline.answer import FALLBACK_PATH
from backline.config import Config

__all__ = ["VALID_OUTCOMES", "SignedSender", "run_simulation"]

VALID_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled", "caller-hung-up")


# An answer is a few hundred bytes; more than this is not read.
_ANSWER_LIMIT = 65536


class SignedSender:
    """Sends a form POST signed as Twilio signs it and returns (status, body)."""

    def __init__(
        self,
        token: str,
        public_url: str,
        base_url: str,
        app: Any = None,
        *,
        timeout: float = 20.0,
        user_agent: str = "TwilioProxy/1.1 (backline simulate)",
    ) -> None:
        self.validator = RequestValidator(token)
        self.public_url = public_url
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.timeout = timeout
        self.user_agent = user_agent

    def post(self, target: str, params: dict[str, str]) -> tuple[int, str]:
        # ``target`` is what Twilio would request: a path, or an absolute URL from the TwiML.
        if target.startswith(("http://", "https://")):
            signed_url = target
            path = (
                target[len(self.public_url) :]
                if target.startswith(self.public_url)
                else (
                    urlsplit(target).path
                    + (f"?{urlsplit(target).query}" if urlsplit(target).query else "")
                )
            )
        else:
            signed_url = self.public_url + target
            path = target
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.validator.compute_signature(signed_url, params),
            "User-Agent": self.user_agent,
        }
        body = urlencode(params).encode()
        if self.app is not None:
            return asyncio.run(_asgi_post(self.app, path, body, headers))
        # Only http(s): the base URL comes from --url and is checked to be one.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return int(response.status), response.read(_ANSWER_LIMIT).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return int(error.code), error.read(_ANSWER_LIMIT).decode("utf-8", "replace")


async def _asgi_post(
    app: Any, path_and_query: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    path, _, query = path_and_query.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "server": ("backline.invalid", 443),
        "client": ("127.0.0.1", 0),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent = False
    status = 500
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks).decode()


def _in_process_app(config: Config, scratch: Path) -> tuple[Any, Config]:
    from starlette.applications import Starlette

    from backline.answer import Answerer
    from backline.manage.migrate import upgrade
    from backline.store.database import Database
    from backline.store.journal import Journal
    from backline.store.recorder import Recorder
    from backline.store.snapshot import SnapshotKeeper
    from backline.web.app import twilio_routes
    from backline.web.twilio import TwilioEndpoints

    # Sign with the real token when there is one; a rehearsal token otherwise.
    signed = config.with_overrides(
        twilio_auth_token=config.twilio_auth_token or secrets.token_hex(16),
        public_url=config.public_url or "https://backline.invalid",
        insecure_demo=False,
    )
    snapshot = SnapshotKeeper(
        Database(config.database_url, timeout=config.db_timeout_seconds),
        scratch,
        config.last_resort_forward_to,
    )
    snapshot.start()
    scratch_url = f"sqlite:///{scratch}/scratch.db"
    upgrade(scratch_url)
    recorder = Recorder(Database(scratch_url), Journal(scratch / "journal.db"), timeout=2.0)
    answerer = Answerer(signed, snapshot, recorder)
    return Starlette(routes=twilio_routes(TwilioEndpoints(answerer))), signed


def run_simulation(
    config: Config,
    *,
    to: str,
    from_: str,
    outcomes: list[str],
    base_url: str | None,
    error_code: str = "11200",
) -> Iterator[tuple[str, str]]:
    """Yield (title, TwiML or error) for the fallback request and each dial outcome."""
    call_sid = "CA" + secrets.token_hex(16)
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "To": to,
        "Called": to,
        "From": from_,
        "Caller": from_,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "ErrorCode": error_code,
        "ErrorUrl": "https://voice-app.example.com/twilio/incoming",
    }
    with tempfile.TemporaryDirectory(prefix="backline-simulate-") as scratch:
        if base_url:
            public = config.public_url or base_url.rstrip("/")
            sender = SignedSender(config.rest_auth_token or "demo", public, base_url)
        else:
            app, signed = _in_process_app(config, Path(scratch))
            sender = SignedSender(signed.rest_auth_token, signed.public_url, "", app)
        status, body = sender.post(FALLBACK_PATH, params)
        yield f"POST {FALLBACK_PATH} (CallSid {call_sid}) -> {status}", _readable(body)
        remaining = list(outcomes)
        while status == 200:
            action = _dial_action(body)
            if action is None:
                return
            if not remaining:
                yield "end", "(Twilio would now dial; add --outcome to say how the leg ends)"
                return
            outcome = remaining.pop(0)
            hung_up = outcome == "caller-hung-up"
            leg = dict(
                params,
                # The action request carries the parent call's status: "completed" once the
                # caller has hung up, while the leg that rang for nobody ends unanswered.
                CallStatus="completed" if hung_up else "in-progress",
                DialCallStatus="no-answer" if hung_up else outcome,
                DialCallSid="CA" + secrets.token_hex(16),
                DialCallDuration="42" if outcome == "completed" else "0",
                DialBridged="true" if outcome in ("completed", "answered") else "false",
            )
            status, body = sender.post(action, leg)
            yield f"POST {action} (DialCallStatus {outcome}) -> {status}", _readable(body)


def _dial_action(twiml: str) -> str | None:
    try:
        dial = ElementTree.fromstring(twiml).find("Dial")  # noqa: S314 (our own server's reply)
    except ElementTree.ParseError:
        return None
    return None if dial is None else dial.get("action")


def _readable(twiml: str) -> str:
    """Indent TwiML for a person; anything that is not XML is shown as it came."""
    try:
        root = ElementTree.fromstring(twiml)  # noqa: S314 (our own server's reply)
    except ElementTree.ParseError:
        return twiml
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode")
