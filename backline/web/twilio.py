"""The answer path over HTTP: Starlette endpoints for Twilio's requests.

Each handler reads the form, lets :class:`backline.answer.Answerer` verify, plan and render,
waits for the durable record, and answers. Nothing here talks to Slack, SMS or any other
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from backline.answer import XML, Answerer, parse_form, plausible_signature, step_of
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

    async def fallback(self, request: Request) -> Response:
        def plan(params: dict[str, str]) -> tuple[str, Record | None]:
            _plan, answer, record = self.answerer.plan_fallback(params)
            return answer, record

        return await self._answer(request, plan, self.answerer.emergency_answer)

    async def dial_status(self, request: Request) -> Response:
        step = step_of(request.query_params.get("step"))
        closed = request.query_params.get("closed") == "1"

        def plan(params: dict[str, str]) -> tuple[str, Record | None]:
            _plan, answer, record = self.answerer.plan_dial_status(params, step, closed=closed)
            return answer, record

        return await self._answer(request, plan, self.answerer.emergency_answer)

    async def callback(self, request: Request) -> Response:
        """Any of :data:`backline.answer.CALLBACKS` (screening, voicemail), by its path."""
        path = request.url.path
        query = dict(request.query_params)
        return await self._answer(
            request,
            lambda params: self.answerer.answer_callback(path, params, query),
            lambda _params: self.answerer.callback_emergency(path),
        )

    async def _answer(
        self,
        request: Request,
        plan: Callable[[dict[str, str]], tuple[str, Record | None]],
        emergency: Callable[[dict[str, str]], str],
    ) -> Response:
        params: dict[str, str] = {}
        try:
            verified = await self._verified(request)
            if verified is None:
                return self._refused()
            params = verified
            answer, record = plan(params)
            if record is not None:
                answer = await self._record(record) or answer
            return Response(answer, media_type=XML)
        except ClientDisconnect:
            # The client went away before its request was in (or was cut off for being too
            # slow or too large): there is nobody to answer, and nothing to report.
            return Response(status_code=400)
        except Exception:
            log.exception("answering %s failed; sending the emergency answer", request.url.path)
            return Response(emergency(params), media_type=XML)

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
