"""The answer path: Twilio's fallback request and the dial-outcome callback.

Each handler parses, verifies, asks the pure planner, renders, records, answers. The only wait is
the durable record (bounded by the recorder's timeout); nothing here talks to Slack, SMS or any
other receiver. Whatever goes wrong inside, Twilio gets valid TwiML, never a 5xx.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.request_validator import RequestValidator

from backline.config import Config
from backline.core.models import Call, Plan
from backline.core.planner import plan_after_leg, plan_first
from backline.core.twiml import LAST_RESORT_TWIML, render
from backline.store.database import utc_now
from backline.store.recorder import Recorder
from backline.store.records import CallRecord, LegRecord
from backline.store.snapshot import SnapshotKeeper

__all__ = ["FALLBACK_PATH", "STATUS_PATH", "Answerer", "TwilioEndpoints", "parse_form"]

log = logging.getLogger("backline.answer")

FALLBACK_PATH = "/twilio/voice/fallback"
STATUS_PATH = "/twilio/voice/dial-status"
XML = "text/xml; charset=utf-8"
_ANSWER_CACHE_SIZE = 4096


def parse_form(body: str) -> dict[str, str]:
    """Decode ``application/x-www-form-urlencoded`` like ``parse_qsl(keep_blank_values=True)``.

    Most of a Twilio form needs no decoding (SIDs, statuses, country codes), so only the pieces
    that carry ``%`` or ``+`` are unquoted; this makes parsing about three times cheaper, which
    matters because it runs on every answer. Blank values are kept: Twilio signs them too.
    """
    form: dict[str, str] = {}
    for pair in body.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        form[key] = value
    return form


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class Answerer:
    """Decides and records answers. Transport-free, so the Lambda handler can use it directly."""

    def __init__(self, config: Config, snapshot: SnapshotKeeper, recorder: Recorder) -> None:
        self.config = config
        self.snapshot = snapshot
        self.recorder = recorder
        self._validator = RequestValidator(config.twilio_auth_token or "unset")
        self._answers: dict[tuple[object, ...], tuple[Plan, str]] = {}

    # -- signatures -----------------------------------------------------------------------------
    def signed_url(self, path: str, query: str) -> str:
        """The URL Twilio signed: public base URL + our path (+ query), never the Host header."""
        return f"{self.config.public_url}{path}" + (f"?{query}" if query else "")

    def is_authentic(
        self, path: str, query: str, params: Mapping[str, str], signature: str
    ) -> bool:
        if self.config.insecure_demo:
            return True
        if not signature:
            return False
        url = self.signed_url(path, query)
        # One HMAC over the URL exactly as configured answers nearly every request; the
        # library's full check (which also tries the URL with and without an explicit port)
        # runs only when that one does not match. Both use the library's algorithm.
        expected = self._validator.compute_signature(url, params)
        if hmac.compare_digest(expected, signature):
            return True
        return bool(self._validator.validate(url, params, signature))

    def action_url(self, step: int) -> str:
        return f"{self.config.public_url}{STATUS_PATH}?step={step}"

    # -- the two moments ------------------------------------------------------------------------
    def _planned(self, call: Call, step: int | None, status: str) -> tuple[Plan, str]:
        """Plan and render, memoised: the answer depends only on the route, the defaults, the
        called number, the caller (for the "caller" caller-ID policy), the step and the status,
        and during an outage the same few numbers are asked for again and again."""
        current = self.snapshot.current
        route = current.route_for(call.to)
        caller = call.from_ if route is not None and route.caller_id == "caller" else ""
        key = (route, current.defaults, call.to, caller, step, status)
        cached = self._answers.get(key)
        if cached is None:
            if step is None:
                plan = plan_first(call, route, current.defaults)
            else:
                plan = plan_after_leg(call, route, current.defaults, step, status)
            cached = (plan, render(plan, self.action_url))
            if len(self._answers) >= _ANSWER_CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = cached
        return cached

    def plan_fallback(self, params: Mapping[str, str]) -> tuple[Plan, str, CallRecord | None]:
        call = Call.from_params(params)
        plan, answer = self._planned(call, None, "")
        record = CallRecord.build(call, plan, answer, utc_now()) if call.call_sid else None
        return plan, answer, record

    def plan_dial_status(
        self, params: Mapping[str, str], step: int
    ) -> tuple[Plan, str, LegRecord | None]:
        call = Call.from_params(params)
        status = params.get("DialCallStatus", "")
        plan, answer = self._planned(call, step, status)
        record = None
        if call.call_sid:
            record = LegRecord.build(
                call=call,
                step=step,
                plan=plan,
                status=status or "unknown",
                dial_call_sid=params.get("DialCallSid", ""),
                duration=_int_or_none(params.get("DialCallDuration")),
                answer=answer,
                at=utc_now(),
            )
        return plan, answer, record

    def emergency_answer(self, params: Mapping[str, str]) -> str:
        """Used when something inside failed: the unknown-number answer, else the constant."""
        try:
            current = self.snapshot.current
            plan = plan_first(Call.from_params(params), None, current.defaults)
            return render(plan, self.action_url)
        except Exception:
            return LAST_RESORT_TWIML


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
        params: dict[str, str] = {}
        try:
            verified = await self._verified(request)
            if verified is None:
                return PlainTextResponse("invalid Twilio signature", status_code=403)
            params = verified
            _plan, answer, record = self.answerer.plan_fallback(params)
            if record is not None:
                answer = await self._record(record) or answer
            return Response(answer, media_type=XML)
        except Exception:
            log.exception("fallback answer failed; sending the emergency answer")
            return Response(self.answerer.emergency_answer(params), media_type=XML)

    async def dial_status(self, request: Request) -> Response:
        params: dict[str, str] = {}
        try:
            verified = await self._verified(request)
            if verified is None:
                return PlainTextResponse("invalid Twilio signature", status_code=403)
            params = verified
            step = _int_or_none(request.query_params.get("step")) or 0
            _plan, answer, record = self.answerer.plan_dial_status(params, step)
            if record is not None:
                answer = await self._record(record) or answer
            return Response(answer, media_type=XML)
        except Exception:
            log.exception("dial-status answer failed; hanging up politely")
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
