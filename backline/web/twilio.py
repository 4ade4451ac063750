"""The answer path over HTTP: Starlette endpoints for Twilio's requests.

One endpoint serves every path of :data:`backline.answer.ENDPOINTS`: it reads the form and
hands it to :func:`backline.answer.respond` (verify, plan, record, answer), waiting for the
durable record on the event loop. Nothing here talks to Slack, SMS or any other
receiver. Whatever goes wrong inside, Twilio gets valid TwiML, never a 5xx.

Hostile input is kept off the event loop's critical path: a request whose X-Twilio-Signature
cannot be one is refused before its body is read; a body is at most 64 KiB (see
``backline.web.limits``); and a form larger than any Twilio sends is parsed and checked in a
thread of its own, one at a time, so a flood of them cannot hold up a real call. A client that
goes away mid-request is let go quietly.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from backline.answer import XML, Answerer, parse_form, plausible_signature, respond
from backline.store.records import Record

__all__ = ["INLINE_FORM_BYTES", "TwilioEndpoints"]

log = logging.getLogger("backline.answer")

# Twilio's forms are one or two KiB; a larger one is checked off the event loop.
INLINE_FORM_BYTES = 8 * 1024


class TwilioEndpoints:
    """Starlette endpoints over an :class:`Answerer`."""

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer
        self._large_forms: ThreadPoolExecutor | None = None

    def _refused(self) -> Response:
        return PlainTextResponse("invalid Twilio signature", status_code=403)

    def _parse_and_check(
        self, path: str, query: str, body: bytes, signature: str
    ) -> tuple[dict[str, str], bool]:
        params = parse_form(body.decode("utf-8", "replace"))
        return params, self.answerer.is_authentic(path, query, params, signature)

    async def _verified(self, request: Request) -> dict[str, str] | None:
        answerer = self.answerer
        path, query = request.url.path, request.url.query
        signature = request.headers.get("x-twilio-signature", "")
        if not answerer.config.insecure_demo and not plausible_signature(signature):
            reason = "X-Twilio-Signature is malformed" if signature else "no X-Twilio-Signature"
            answerer.note_check(path, query, authentic=False, reason=reason)
            return None
        if request.method != "POST":
            # For GET, Twilio signs the URL with its query and no body parameters.
            authentic = answerer.check(path, query, {}, signature)
            return parse_form(query) if authentic else None
        body = await request.body()
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

    async def answer(self, request: Request) -> Response:
        """Any path of :data:`backline.answer.ENDPOINTS`, through :func:`backline.answer.respond`;
        the record is awaited from the recorder's group commit."""
        try:
            answer = await respond(
                self.answerer,
                request.url.path,
                request.url.query,
                verify=lambda: self._verified(request),
                wait=self._record,
                passthrough=(ClientDisconnect,),
            )
        except ClientDisconnect:
            # The client went away before its request was in (or was cut off for being too
            # slow or too large): there is nobody to answer, and nothing to report.
            return Response(status_code=400)
        if answer is None:
            return self._refused()
        return Response(answer, media_type=XML)

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
