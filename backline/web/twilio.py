"""The answer path over HTTP: a plain ASGI endpoint for Twilio's requests.

One endpoint serves every path of :data:`backline.answer.ENDPOINTS`: it reads the form and
hands it to :func:`backline.answer.respond` (verify, plan, record, answer), waiting for the
durable record on the event loop. It speaks ASGI itself rather than through Starlette's
Request and Response (which cost a warm answer about a fifth of its time); the app
(``backline.web.app``) sends Twilio's paths straight to it and everything else through
Starlette. Nothing here talks to Slack, SMS or any other receiver. Whatever goes wrong
inside, Twilio gets valid TwiML, never a 5xx.

Hostile input is kept off the event loop's critical path: a request whose X-Twilio-Signature
cannot be one is refused before its body is read; a body is at most 64 KiB (see
``backline.web.limits``); and a form larger than any Twilio sends is parsed and checked in a
thread of its own, one at a time, so a flood of them cannot hold up a real call. A client that
goes away mid-request is let go quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backline.answer import XML, Answerer, parse_form, plausible_signature, respond
from backline.store.records import Record

__all__ = ["INLINE_FORM_BYTES", "ClientGone", "TwilioEndpoints"]

log = logging.getLogger("backline.answer")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Twilio's forms are one or two KiB; a larger one is checked off the event loop.
INLINE_FORM_BYTES = 8 * 1024
_SIGNATURE_HEADER = b"x-twilio-signature"
_XML_TYPE = XML.encode("latin-1")
_REFUSED = b"invalid Twilio signature"
_REFUSED_HEADERS = [
    (b"content-length", str(len(_REFUSED)).encode()),
    (b"content-type", b"text/plain; charset=utf-8"),
]
_GONE_HEADERS = [(b"content-length", b"0")]


class ClientGone(Exception):
    """The client went away before its request was in (or was cut off by the limits)."""


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body  # the usual case: a small form in one piece
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class TwilioEndpoints:
    """An ASGI app over an :class:`Answerer` for every path of the endpoint table."""

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer
        self._large_forms: ThreadPoolExecutor | None = None

    def _parse_and_check(
        self, path: str, query: str, body: bytes, signature: str
    ) -> tuple[dict[str, str], bool]:
        params = parse_form(body.decode("utf-8", "replace"))
        return params, self.answerer.is_authentic(path, query, params, signature)

    async def _verified(
        self, scope: Scope, receive: Receive, path: str, query: str
    ) -> dict[str, str] | None:
        answerer = self.answerer
        signature = ""
        for name, value in scope["headers"]:
            if name == _SIGNATURE_HEADER:
                signature = value.decode("latin-1")
                break
        if not answerer.config.insecure_demo and not plausible_signature(signature):
            reason = "X-Twilio-Signature is malformed" if signature else "no X-Twilio-Signature"
            answerer.note_check(path, query, authentic=False, reason=reason)
            return None
        if scope["method"] != "POST":
            # For GET, Twilio signs the URL with its query and no body parameters.
            authentic = answerer.check(path, query, {}, signature)
            return parse_form(query) if authentic else None
        body = await _read_body(receive)
        if len(body) <= INLINE_FORM_BYTES:
            params = parse_form(body.decode("utf-8", "replace"))
            return params if answerer.check(path, query, params, signature) else None
        if self._large_forms is None:
            self._large_forms = ThreadPoolExecutor(1, thread_name_prefix="backline-large-form")
        params, authentic = await asyncio.get_running_loop().run_in_executor(
            self._large_forms, self._parse_and_check, path, query, body, signature
        )
        answerer.note_check(path, query, authentic=authentic)
        return params if authentic else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Any path of :data:`backline.answer.ENDPOINTS`, through :func:`backline.answer.respond`;
        the record is awaited from the recorder's group commit."""
        path: str = scope["path"]
        raw_query: bytes = scope.get("query_string", b"")
        query = raw_query.decode("utf-8", "replace") if raw_query else ""
        try:
            answer = await respond(
                self.answerer,
                path,
                query,
                verify=lambda: self._verified(scope, receive, path, query),
                wait=self._record,
                passthrough=(ClientGone,),
            )
        except ClientGone:
            # There is nobody to answer, and nothing to report.
            await send({"type": "http.response.start", "status": 400, "headers": _GONE_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return
        if answer is None:
            await send({"type": "http.response.start", "status": 403, "headers": _REFUSED_HEADERS})
            await send({"type": "http.response.body", "body": _REFUSED})
            return
        body = answer.encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", _XML_TYPE),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _record(self, record: Record) -> str | None:
        try:
            return await self.answerer.recorder.record(record)
        except Exception:
            # The recorder holds what neither the database nor the journal takes, so this is a
            # bug, not a full disk. The caller still gets forwarded; the loss is logged loudly.
            log.critical(
                "could not record %s anywhere; answering anyway", record.key, exc_info=True
            )
            return None

    def close(self) -> None:
        if self._large_forms is not None:
            self._large_forms.shutdown(wait=False, cancel_futures=True)
            self._large_forms = None
