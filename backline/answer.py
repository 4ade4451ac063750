"""The answer, without any transport: Twilio's fallback request, the dial-outcome callback,
and the callbacks of a voicemail and of a screened call.

Every Twilio path is one row of :data:`ENDPOINTS`: the path, the planner that answers it and
builds its record, the kind of record it makes, and what to answer when planning fails.
:func:`respond` is the one sequence every request goes through (verify, plan, record, answer,
or the emergency answer); :class:`Answerer` holds what it needs (the tokens, the snapshot, the
recorder, the memo of answers). The server's ASGI endpoint (``backline.web.twilio``) and the
Lambda handler (``backline.aws.fallback``) only adapt their I/O to it and differ only in how
they wait for the durable record, so both answer alike. This module imports no web framework:
a Lambda cold start pays only for what answering needs.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from backline.config import Config, auth_tokens
from backline.core.cleaning import bounded_int, clean_text
from backline.core.forms import parse_form
from backline.core.models import ACCEPT_KEY, Call, Defaults, Plan, Route, Verb, is_drill
from backline.core.planner import (
    caller_gone,
    closed_now,
    leg_status,
    may_record,
    plan_after_leg,
    plan_after_voicemail,
    plan_first,
    plan_screen_answer,
    plan_whisper,
    resumed_step,
    url_caller,
)
from backline.core.refusals import RefusalWatch
from backline.core.signatures import TwilioSigner
from backline.core.twiml import LAST_RESORT_TWIML, render, render_verbs
from backline.core.validation import is_e164
from backline.store.database import utc_now
from backline.store.recorder import Recorder
from backline.store.records import (
    MAX_DURATION,
    MAX_STEP,
    CallRecord,
    LegRecord,
    Record,
    RecordKind,
)
from backline.store.snapshot import SnapshotKeeper

__all__ = [
    "ENDPOINTS",
    "FALLBACK_PATH",
    "INSECURE_HEADER",
    "MAX_BODY_BYTES",
    "RECORDING_PATH",
    "SCREEN_ANSWER_PATH",
    "STATUS_PATH",
    "TRANSCRIPTION_PATH",
    "VOICEMAIL_PATH",
    "WHISPER_PATH",
    "XML",
    "Answerer",
    "Endpoint",
    "Planner",
    "auth_tokens",
    "emergency_answer",
    "endpoint_for",
    "parse_form",
    "plan_dial_status",
    "plan_fallback",
    "plausible_signature",
    "respond",
    "run_now",
    "step_of",
]

log = logging.getLogger("backline.answer")
T = TypeVar("T")

FALLBACK_PATH = "/twilio/voice/fallback"
STATUS_PATH = "/twilio/voice/dial-status"
# A screened call: the whisper each <Number> plays, and its <Gather>'s action.
WHISPER_PATH = "/twilio/voice/screen"
SCREEN_ANSWER_PATH = "/twilio/voice/screen-answer"
# A voicemail: the <Record>'s action, its recording status callback, its transcription.
VOICEMAIL_PATH = "/twilio/voice/voicemail"
RECORDING_PATH = "/twilio/voice/recording-status"
TRANSCRIPTION_PATH = "/twilio/voice/transcription"
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


class _Links:
    """backline's URLs for one public base URL. Query values are form-encoded ("+" as %2B),
    exactly as Twilio will request and sign them."""

    def __init__(self, public_url: str) -> None:
        self.base = public_url

    def _url(self, path: str, **query: str) -> str:
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def dial_action(self, step: int, closed: bool) -> str:
        if closed:
            return self._url(STATUS_PATH, step=str(step), closed="1")
        return self._url(STATUS_PATH, step=str(step))

    def whisper(self, number: str) -> str:
        return self._url(WHISPER_PATH, number=number)

    def screen_answer(self, number: str) -> str:
        return self._url(SCREEN_ANSWER_PATH, number=number)

    def voicemail_done(self) -> str:
        return self._url(VOICEMAIL_PATH)

    def recording_status(self, number: str, caller: str) -> str:
        return self._url(RECORDING_PATH, number=number, caller=caller)

    def transcription(self, number: str, caller: str) -> str:
        return self._url(TRANSCRIPTION_PATH, number=number, caller=caller)


# What the callbacks answer when planning them failed: a whisper or a key that cannot be
# handled connects the person who picked up (as an unscreened call would), never drops them; a
# voicemail's end hangs up; Twilio ignores what a status callback is answered. Written out as
# the twilio builder writes them (a test holds them equal), so that importing costs nothing.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
HANGUP_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'


def _recorded(call_sid: str) -> bool:
    """Whether a callback of this call is recorded: a real call's (a drill is recorded nowhere)."""
    return bool(call_sid) and not is_drill(call_sid)


def _number(query: Mapping[str, str]) -> str:
    """The Twilio number our own URL names (signed by Twilio with the URL), if it is one."""
    number = query.get("number", "").strip()
    return number if is_e164(number) else ""


class Answerer:
    """Decides and records answers. Transport-free, so the Lambda handler can use it directly.

    ``clock`` gives "now" (seconds since the epoch) for each answer: office hours are decided
    with it, and tests give their own.
    """

    def __init__(
        self,
        config: Config,
        snapshot: SnapshotKeeper,
        recorder: Recorder,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        self.recorder = recorder
        self.clock = clock
        self._validators: tuple[RequestValidator, ...] = ()
        self._keys: tuple[TwilioSigner, ...] = ()
        # AccountSid -> the index of the validator whose token signed its last good request, so
        # that a normal request costs one HMAC however many tokens there are.
        self._signers: dict[str, int] = {}
        self.use_auth_tokens(config.twilio_auth_token)
        # Keyed by the route's and the defaults' identity (hashing a route compares and hashes
        # every field, on every answer); each entry holds the two objects themselves, so no
        # other object can take their ids while it is kept.
        self._answers: dict[tuple[object, ...], tuple[Route | None, Defaults, Plan, str]] = {}
        self._whispers: dict[tuple[object, ...], str] = {}
        self._status_url = f"{config.public_url}{STATUS_PATH}"
        self.links = _Links(config.public_url)
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
        self._keys = tuple(TwilioSigner(token) for token in tokens)
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
        # tokens run only when that one does not match. The one HMAC is the library's algorithm
        # written out (backline.core.signatures, held equal to the library by property tests).
        first = remembered if remembered is not None and remembered < len(validators) else 0
        expected = self._keys[first].signature(url, params)
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

    # -- the fallback and the dial outcome -------------------------------------------------------
    def _planned(
        self, call: Call, step: int | None, status: str, closed: bool = False
    ) -> tuple[Plan, str]:
        """Plan and render, memoised: the answer depends only on the route, the defaults, the
        called number, the caller (for the "caller" caller-ID policy, and for a voicemail, whose
        URL names the caller), the step, the leg's status, (after a leg) whether the caller is
        still there, and whether the number is closed. For a first answer that last is decided
        from "now" before the memo is consulted, so an answer memoised in office hours is never
        served after closing time. During an outage the same few numbers are asked for again
        and again."""
        current = self.snapshot.current
        route = current.route_for(call.to)
        defaults = current.defaults
        caller = (
            call.from_
            if route is not None and (route.caller_id == "caller" or may_record(route, defaults))
            else ""
        )
        gone = step is not None and caller_gone(call.call_status)
        now = self.clock()
        if step is None:
            closed = closed_now(route, now)
        key = (id(route), id(defaults), call.to, caller, step, status, gone, closed)
        cached = self._answers.get(key)
        if cached is None or cached[0] is not route or cached[1] is not defaults:
            if step is None:
                plan = plan_first(call, route, defaults, now=now)
            else:
                plan = plan_after_leg(call, route, defaults, step, status, closed=closed)
            cached = (route, defaults, plan, render(plan, self.links))
            if len(self._answers) >= _ANSWER_CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = cached
        return cached[2], cached[3]

    def plan_fallback(
        self, params: Mapping[str, str]
    ) -> tuple[Plan, str, CallRecord | LegRecord | None]:
        call = Call.from_params(params)
        # (The substring test spares nearly every first fallback the URL parsing.)
        resume = (
            resumed_step(call.error_url, self._status_url)
            if STATUS_PATH in call.error_url
            else None
        )
        if resume is not None:
            # Twilio requests the fallback URL again because this call's dial-outcome URL
            # failed: the leg of that step has ended. Answering as that dial-outcome request
            # would have (and recording it under the same key, so that a request that did reach
            # us and this one are one leg) continues the hunt where it is, never at leg 1.
            return self.plan_dial_status(params, resume.step, closed=resume.closed)
        plan, answer = self._planned(call, None, "")
        record = None
        if call.call_sid and not is_drill(call.call_sid):
            record = CallRecord.build(call, plan, answer, utc_now(self.clock()))
        return plan, answer, record

    def plan_dial_status(
        self, params: Mapping[str, str], step: int, *, closed: bool = False
    ) -> tuple[Plan, str, LegRecord | None]:
        call = Call.from_params(params)
        status = leg_status(params.get("DialCallStatus", ""), params.get("DialBridged", ""))
        plan, answer = self._planned(call, step, status, closed)
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
                at=utc_now(self.clock()),
            )
        return plan, answer, record

    def emergency_answer(self, params: Mapping[str, str]) -> str:
        """Used when something inside failed: the unknown-number answer, else the constant."""
        try:
            current = self.snapshot.current
            plan = plan_first(Call.from_params(params), None, current.defaults, now=self.clock())
            return render(plan, self.links)
        except Exception:
            return LAST_RESORT_TWIML

    # -- the callbacks ---------------------------------------------------------------------------
    def answer_whisper(
        self, params: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, Record | None]:
        """The whisper, to the person who picked up a screened leg. Nothing is recorded: the key
        they press (or the dial outcome, when they press none) is."""
        number = _number(query)
        current = self.snapshot.current
        route = current.route_for(number) if number else None
        key = (route, current.defaults, number)
        answer = self._whispers.get(key)
        if answer is None:
            answer = self._render(plan_whisper(route, current.defaults, number))
            if len(self._whispers) >= _ANSWER_CACHE_SIZE:
                self._whispers.clear()
            self._whispers[key] = answer
        return answer, None

    def answer_screen(
        self, params: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, Record | None]:
        """The key pressed during the whisper: accepted connects, anything else ends the leg."""
        digits = params.get("Digits", "")
        answer = self._render(plan_screen_answer(digits))
        record = None
        if _recorded(params.get("CallSid", "")):
            from backline.store.callback_records import ScreenRecord

            record = ScreenRecord.build(
                call_sid=params.get("CallSid", ""),
                parent_call_sid=params.get("ParentCallSid", ""),
                number=_number(query),
                destination=params.get("To", "") or params.get("Called", ""),
                digits=digits,
                accepted=digits.strip() == ACCEPT_KEY,
                answer=answer,
                at=utc_now(self.clock()),
            )
        return answer, record

    def answer_voicemail_done(
        self, params: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, Record | None]:
        """The <Record>'s action: the message is taken (its status request tells of it)."""
        return self._render(plan_after_voicemail()), None

    def _voicemail_facts(self, query: Mapping[str, str]) -> tuple[str, str, str | None]:
        number = _number(query)
        route = self.snapshot.current.route_for(number) if number else None
        return number, url_caller(query.get("caller", "")), route.client if route else None

    def answer_recording(
        self, params: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, Record | None]:
        """Twilio's recording status request: the voicemail is ready (or there is none)."""
        record = None
        if _recorded(params.get("CallSid", "")):
            from backline.store.callback_records import VoicemailRecord

            number, caller, client = self._voicemail_facts(query)
            record = VoicemailRecord.build(
                call_sid=params.get("CallSid", ""),
                recording_sid=params.get("RecordingSid", ""),
                number=number,
                caller=caller,
                client=client,
                url=params.get("RecordingUrl", ""),
                duration=bounded_int(params.get("RecordingDuration"), 0, MAX_DURATION),
                status=params.get("RecordingStatus", ""),
                answer=EMPTY_TWIML,
                at=utc_now(self.clock()),
            )
        return EMPTY_TWIML, record

    def answer_transcription(
        self, params: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, Record | None]:
        """Twilio's transcription of a voicemail."""
        record = None
        if _recorded(params.get("CallSid", "")):
            from backline.store.callback_records import TranscriptionRecord

            number, caller, client = self._voicemail_facts(query)
            status = params.get("TranscriptionStatus", "")
            record = TranscriptionRecord.build(
                call_sid=params.get("CallSid", ""),
                recording_sid=params.get("RecordingSid", ""),
                number=number,
                caller=caller,
                client=client,
                url=params.get("RecordingUrl", ""),
                text=params.get("TranscriptionText", "") if status == "completed" else "",
                status=status,
                answer=EMPTY_TWIML,
                at=utc_now(self.clock()),
            )
        return EMPTY_TWIML, record

    def _render(self, verbs: tuple[Verb, ...]) -> str:
        return render_verbs(verbs, self.links)


# -- the endpoint table ---------------------------------------------------------------------------

Planner = Callable[[Answerer, Mapping[str, str], Mapping[str, str]], tuple[str, "Record | None"]]


def plan_fallback(
    answerer: Answerer, params: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, Record | None]:
    """Twilio's fallback request: the first answer (or, for a call in progress, the next)."""
    _plan, answer, record = answerer.plan_fallback(params)
    return answer, record


def plan_dial_status(
    answerer: Answerer, params: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, Record | None]:
    """The ``<Dial action>`` request after a leg: the step and whether the number was closed
    are in our own URL's query."""
    step = step_of(query.get("step"))
    closed = query.get("closed") == "1"
    _plan, answer, record = answerer.plan_dial_status(params, step, closed=closed)
    return answer, record


class Endpoint(NamedTuple):
    """One Twilio path: the planner that answers it (with the request's form and our own URL's
    query parameters), the kind of record it makes (``None``: nothing is recorded), and the
    answer when planning fails (``None``: the answer for an unknown number, built from the
    request)."""

    path: str
    plan: Planner
    record: RecordKind | None
    emergency: str | None


# Every path Twilio requests. The web app's routes, the Lambda handler's routes and the SAM
# template's routes come from (or are tested against) this table.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(FALLBACK_PATH, plan_fallback, "call", None),
    Endpoint(STATUS_PATH, plan_dial_status, "leg", None),
    Endpoint(WHISPER_PATH, Answerer.answer_whisper, None, EMPTY_TWIML),
    Endpoint(SCREEN_ANSWER_PATH, Answerer.answer_screen, "screen", EMPTY_TWIML),
    Endpoint(VOICEMAIL_PATH, Answerer.answer_voicemail_done, None, HANGUP_TWIML),
    Endpoint(RECORDING_PATH, Answerer.answer_recording, "voicemail", EMPTY_TWIML),
    Endpoint(TRANSCRIPTION_PATH, Answerer.answer_transcription, "transcription", EMPTY_TWIML),
)
_ENDPOINT_AT = {endpoint.path: endpoint for endpoint in ENDPOINTS}


def endpoint_for(path: str) -> Endpoint | None:
    """The endpoint served at ``path`` (with or without a final slash), if any."""
    return _ENDPOINT_AT.get(path.rstrip("/") or path)


def emergency_answer(endpoint: Endpoint, answerer: Answerer, params: Mapping[str, str]) -> str:
    """What ``endpoint`` answers when answering failed: never an error for Twilio."""
    if endpoint.emergency is not None:
        return endpoint.emergency
    return answerer.emergency_answer(params)


# -- the one answer sequence ----------------------------------------------------------------------


async def respond(
    answerer: Answerer,
    path: str,
    query: str,
    *,
    verify: Callable[[], Awaitable[Mapping[str, str] | None]],
    wait: Callable[[Record], Awaitable[str | None]],
    logger: logging.Logger = log,
    log_extra: Mapping[str, object] | None = None,
    passthrough: tuple[type[Exception], ...] = (),
) -> str | None:
    """Answer one Twilio request at ``path`` (one of :data:`ENDPOINTS`): verify it, plan the
    answer and its record, wait for the record to be durable, and answer; if anything inside
    fails, the endpoint's emergency answer. ``None`` when the request is refused (403).

    The shells adapt their I/O through two steps: ``verify`` checks the signature and gives the
    request's parameters (``None``: refused), and ``wait`` hands the record to the durable
    writer and gives the answer first given for it when Twilio repeats a request. Exceptions in
    ``passthrough`` (a client gone away) are not answered but raised to the shell."""
    endpoint = endpoint_for(path)
    if endpoint is None:
        raise LookupError(f"no Twilio endpoint at {path}")
    params: Mapping[str, str] = {}
    try:
        verified = await verify()
        if verified is None:
            return None
        params = verified
        answer, record = endpoint.plan(answerer, params, parse_form(query))
        if record is not None:
            answer = await wait(record) or answer
        return answer
    except passthrough:
        raise
    except Exception:
        logger.exception("answering %s failed; sending the emergency answer", path, extra=log_extra)
        return emergency_answer(endpoint, answerer, params)


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (the Lambda handler's steps are plain
    calls), without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("the coroutine suspended; it needs an event loop")
