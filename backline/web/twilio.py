"""The answer path over HTTP: Starlette endpoints for Twilio's two requests.

Each handler reads the form, lets :class:`backline.answer.Answerer` verify, plan and render,
waits for the durable record, and answers. Nothing here talks to Slack, SMS or any other
receiver. Whatever goes wrong inside, Twilio gets valid TwiML, never a 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from backline.answer import XML, Answerer, int_or_none, parse_form
from backline.core.models import Plan
from backline.store.records import CallRecord, LegRecord

__all__ = ["TwilioEndpoints"]

log = logging.getLogger("backline.answer")


class TwilioEndpoints:
    """Starlette endpoints over an :class:`Answerer`."""

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer

    async def _params(self, request: Request) -> dict[str, str]:
        if request.method == "POST":
            return parse_form((await request.body()).decode("utf-8", "replace"))
        return parse_form(request.url.query)

    async def _verified(self, request: Request) -> dict[str, str] | None:
        params = await self._params(request)
        # For GET, Twilio signs the URL with its query and no body parameters.
        signed_params = params if request.method == "POST" else {}
        if self.answerer.is_authentic(
            request.url.path,
            request.url.query,
            signed_params,
            request.headers.get("x-twilio-signature", ""),
        ):
            return params
        return None

    async def fallback(self, request: Request) -> Response:
        return await self._answer(request, lambda params: self.answerer.plan_fallback(params))

    async def dial_status(self, request: Request) -> Response:
        step = int_or_none(request.query_params.get("step")) or 0
        return await self._answer(
            request, lambda params: self.answerer.plan_dial_status(params, step)
        )

    async def _answer(
        self,
        request: Request,
        plan: Callable[[dict[str, str]], tuple[Plan, str, CallRecord | LegRecord | None]],
    ) -> Response:
        params: dict[str, str] = {}
        try:
            verified = await self._verified(request)
            if verified is None:
                return PlainTextResponse("invalid Twilio signature", status_code=403)
            params = verified
            _plan, answer, record = plan(params)
            if record is not None:
                answer = await self._record(record) or answer
            return Response(answer, media_type=XML)
        except Exception:
            log.exception("answering %s failed; sending the emergency answer", request.url.path)
            return Response(self.answerer.emergency_answer(params), media_type=XML)

    async def _record(self, record: CallRecord | LegRecord) -> str | None:
        try:
            return await self.answerer.recorder.record(record)
        except Exception:
            # Both the database and the journal failed (a full disk, say). The caller still
            # gets forwarded; the loss is logged loudly for the operator.
            log.critical(
                "could not record %s anywhere; answering anyway", record.key, exc_info=True
            )
            return None
