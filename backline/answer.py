"""The answer, without any transport: Twilio's fallback request and the dial-outcome callback.

:class:`Answerer` parses nothing and serves nothing; it verifies, plans, renders and builds the
record. The Starlette endpoints (``backline.web.twilio``) and the Lambda handler
(``backline.aws.fallback``) are thin shells over it, so both answer alike. This module imports
no web framework: a Lambda cold start pays only for what answering needs.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from backline.config import Config, auth_tokens
from backline.core.cleaning import bounded_int, clean_text
from backline.core.forms import parse_form
from backline.core.models import Call, Plan, is_drill
from backline.core.planner import caller_gone, plan_after_leg, plan_first, resumed_step
from backline.core.refusals import RefusalWatch
from backline.core.twiml import LAST_RESORT_TWIML, render
from backline.store.database import utc_now
from backline.store.recorder import Recorder
from backline.store.records import MAX_DURATION, MAX_STEP, CallRecord, LegRecord
from backline.store.snapshot import SnapshotKeeper

__all__ = [
    "FALLBACK_PATH",
    "INSECURE_HEADER",
    "MAX_BODY_BYTES",
    "STATUS_PATH",
    "XML",
    "Answerer",
    "auth_tokens",
    "parse_form",
    "plausible_signature",
    "step_of",
]

log = logging.getLogger("backline.answer")

FALLBACK_PATH = "/twilio/voice/fallback"
STATUS_PATH = "/twilio/voice/dial-status"
XML = "text/xml; charset=utf-8"
_ANSWER_CACHE_SIZE = 4096
# Accounts whose signing token is remembered; far more than one deployment's subaccounts.
_SIGNERS_SIZE = 1024
# A Twilio voice request is a form of a few dozen parameters, one or two KiB; anything over this
# is refused with 413 before it is read whole (or, on Lambda, parsed).
MAX_BODY_BYTES = 64 * 1024
# Every answer of a process in insecure demo mode carries this header (name, value).
INSECURE_HEADER = ("X-Backline-Insecure-Demo", "signatures are not checked")
# X-Twilio-Signature is the base64 of an HMAC: a request whose header cannot be one is refused
# before its body is read or parsed (a flood of unsigned posts then costs next to nothing).
_SIGNATURE_SHAPE = re.compile(r"[A-Za-z0-9+/]{16,200}={0,2}")
# The URL shown in a refusal's log line is cut to this many characters.
_LOGGED_URL_MAX = 300


def plausible_signature(signature: str) -> bool:
    """Whether ``signature`` can be an X-Twilio-Signature at all (base64, a sane length)."""
    return _SIGNATURE_SHAPE.fullmatch(signature) is not None


def step_of(value: str | None) -> int:
    """The dial step from the action URL's query; 0 for anything that is not one."""
    return bounded_int(value, 0, MAX_STEP) or 0


class Answerer:
    """Decides and records answers. Transport-free, so the Lambda handler can use it directly."""

    def __init__(self, config: Config, snapshot: SnapshotKeeper, recorder: Recorder) -> None:
        self.config = config
        self.snapshot = snapshot
        self.recorder = recorder
        self._validators: tuple[RequestValidator, ...] = ()
        # AccountSid -> the index of the validator whose token signed its last good request, so
        # that a normal request costs one HMAC however many tokens there are.
        self._signers: dict[str, int] = {}
        self.use_auth_tokens(config.twilio_auth_token)
        self._answers: dict[tuple[object, ...], tuple[Plan, str]] = {}
        self._status_url = f"{config.public_url}{STATUS_PATH}"
        self.refusals = RefusalWatch()
        self._refusals_lock = threading.Lock()

    # -- signatures -----------------------------------------------------------------------------
    def signed_url(self, path: str, query: str) -> str:
        """The URL Twilio signed: public base URL + our path (+ query), never the Host header."""
        return f"{self.config.public_url}{path}" + (f"?{query}" if query else "")

    def use_auth_tokens(self, raw: str) -> None:
        """Check signatures with the tokens in ``raw`` from now on (comma-separated)."""
        tokens = auth_tokens(raw) or ("unset",)
        self._validators = tuple(RequestValidator(token) for token in tokens)
        self._signers = {}

    def is_authentic(
        self, path: str, query: str, params: Mapping[str, str], signature: str
    ) -> bool:
        if self.config.insecure_demo:
            return True
        # A signature is base64: anything else is forged, and must not reach compare_digest,
        # which raises on non-ASCII text (that would be an error, not a 403).
        if not signature or not signature.isascii():
            return False
        url = self.signed_url(path, query)
        account = params.get("AccountSid", "")
        if not account and "AccountSid=" in query:  # a GET: the parameters are in the query
            account = parse_form(query).get("AccountSid", "")
        validators = self._validators
        remembered = self._signers.get(account)
        # One HMAC over the URL exactly as configured answers nearly every request: the token
        # that signed this account's last request first (else the first token). The library's
        # full check (which also tries the URL with and without an explicit port) and the other
        # tokens run only when that one does not match. All use the library's algorithm.
        first = remembered if remembered is not None and remembered < len(validators) else 0
        expected = validators[first].compute_signature(url, params)
        if hmac.compare_digest(expected, signature):
            if remembered is None and account:
                self._remember(account, first)
            return True
        signer = next(
            (
                index
                for index in (first, *(i for i in range(len(validators)) if i != first))
                if validators[index].validate(url, params, signature)
            ),
            None,
        )
        if signer is None:
            return False
        if account and remembered != signer:
            self._remember(account, signer)
        return True

    def _remember(self, account: str, signer: int) -> None:
        if len(self._signers) >= _SIGNERS_SIZE:
            self._signers.clear()
        self._signers[account] = signer

    def check(self, path: str, query: str, params: Mapping[str, str], signature: str) -> bool:
        """:meth:`is_authentic`, with the outcome counted (and a refusal logged)."""
        authentic = self.is_authentic(path, query, params, signature)
        self.note_check(path, query, authentic=authentic)
        return authentic

    def note_check(
        self,
        path: str,
        query: str,
        *,
        authentic: bool,
        reason: str = "X-Twilio-Signature does not match",
        log_refusal: bool = True,
    ) -> None:
        """Count a checked request; log a refusal, at most one line a minute.

        The shells call this directly for a request refused before its body is read (no
        signature at all), or checked off the event loop (an unusually large form). The Lambda
        handler logs each refusal itself (a metric counts those lines): ``log_refusal=False``.
        """
        now = time.monotonic()
        with self._refusals_lock:
            due = self.refusals.observe(refused=not authentic, now=now)
        if not due or not log_refusal:
            return
        # The URL comes partly from the request (the query): cleaned and cut before logging.
        checked = clean_text(self.signed_url(path, query), _LOGGED_URL_MAX)
        more = f" ({due} refused since the last such line)" if due > 1 else ""
        log.warning(
            "refused a request: %s for the URL %s%s. Forged requests look like this; if "
            "Twilio's own requests are refused, BACKLINE_TWILIO_AUTH_TOKEN is not the token "
            "of the account that owns the number, or BACKLINE_PUBLIC_URL is not the URL set "
            "in the Twilio console",
            reason,
            checked,
            more,
        )

    def refusal_health(self) -> dict[str, Any]:
        """The counts /healthz shows, and whether most recent requests were refused."""
        now = time.monotonic()
        with self._refusals_lock:
            refused, checked = self.refusals.recent(now)
            return {
                "refused": self.refusals.refused_total,
                "recent_refused": refused,
                "recent_checked": checked,
                "mostly_refused": self.refusals.mostly_refused(now),
            }

    def action_url(self, step: int) -> str:
        return f"{self.config.public_url}{STATUS_PATH}?step={step}"

    # -- the two moments ------------------------------------------------------------------------
    def _planned(self, call: Call, step: int | None, status: str) -> tuple[Plan, str]:
        """Plan and render, memoised: the answer depends only on the route, the defaults, the
        called number, the caller (for the "caller" caller-ID policy), the step, the leg's status
        and (after a leg) whether the caller is still there; during an outage the same few
        numbers are asked for again and again."""
        current = self.snapshot.current
        route = current.route_for(call.to)
        caller = call.from_ if route is not None and route.caller_id == "caller" else ""
        gone = step is not None and caller_gone(call.call_status)
        key = (route, current.defaults, call.to, caller, step, status, gone)
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

    def plan_fallback(
        self, params: Mapping[str, str]
    ) -> tuple[Plan, str, CallRecord | LegRecord | None]:
        call = Call.from_params(params)
        # (The substring test spares nearly every first fallback the URL parsing.)
        step = (
            resumed_step(call.error_url, self._status_url)
            if STATUS_PATH in call.error_url
            else None
        )
        if step is not None:
            # Twilio requests the fallback URL again because this call's dial-outcome URL
            # failed: the leg of that step has ended. Answering as that dial-outcome request
            # would have (and recording it under the same key, so that a request that did reach
            # us and this one are one leg) continues the hunt where it is, never at leg 1.
            return self.plan_dial_status(params, step)
        plan, answer = self._planned(call, None, "")
        record = None
        if call.call_sid and not is_drill(call.call_sid):
            record = CallRecord.build(call, plan, answer, utc_now())
        return plan, answer, record

    def plan_dial_status(
        self, params: Mapping[str, str], step: int
    ) -> tuple[Plan, str, LegRecord | None]:
        call = Call.from_params(params)
        status = params.get("DialCallStatus", "")
        plan, answer = self._planned(call, step, status)
        record = None
        if call.call_sid and not is_drill(call.call_sid):
            record = LegRecord.build(
                call=call,
                step=step,
                plan=plan,
                status=status or "unknown",
                dial_call_sid=params.get("DialCallSid", ""),
                duration=bounded_int(params.get("DialCallDuration"), 0, MAX_DURATION),
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
