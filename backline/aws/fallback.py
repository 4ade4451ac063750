"""The fallback function's handler: ``backline.aws.fallback.handler``.

A lean event adapter over the same :class:`~backline.answer.Answerer` the ASGI app uses:
the same paths, the same answers, the same signature rule (``BACKLINE_PUBLIC_URL`` + the app's
path, the form parameters for POST, the query and no parameters for GET), the same 403 for a
forged request and the same emergency answer when anything inside fails. It skips the web
framework and Mangum, which would more than double a cold start (see bench/coldstart.py);
``backline.aws.asgi`` keeps the full app on Lambda for anyone who wants it.

One event, in order: parse, verify, plan, record durably (database, else the local journal),
wake the dispatcher (an asynchronous Invoke with a short budget), return, all within one
deadline (BACKLINE_ANSWER_DEADLINE_SECONDS, or less when the invocation has less time left;
see backline/aws/deadline.py). Nothing runs after the return: Lambda freezes the instance then.

The lines that should raise an alarm carry a ``backline`` field (backline/aws/alarms.py) that
the SAM template's metric filters count: answers from the built-in last resort, records
journaled instead of stored, refused signatures.
"""

from __future__ import annotations

import json
import logging
from html import escape
from typing import TYPE_CHECKING, Any

from backline.aws.alarms import LogEvent, tagged
from backline.aws.events import EventError, HttpRequest, base_path_of, parse_event, response
from backline.core.models import BUILT_IN_LANGUAGE, BUILT_IN_MESSAGE, BUILT_IN_VOICE

if TYPE_CHECKING:
    from backline.answer import Answerer
    from backline.aws.deadline import Deadline
    from backline.aws.runtime import Runtime
    from backline.service import Service
    from backline.store.records import Record

__all__ = ["FallbackHandler", "handler"]

log = logging.getLogger("backline.aws.fallback")

# Twilio's paths: backline.answer.ENDPOINTS. Should backline fail to import, the two paths a
# call can reach first are still found, to answer them with the apology rather than a 404.
TWILIO_PATHS: tuple[str, ...] = ("/twilio/voice/fallback", "/twilio/voice/dial-status")
HEALTH_PATH = "/healthz"
TEXT = "text/plain; charset=utf-8"
XML = "text/xml; charset=utf-8"

# Imported here, at init, so the work happens once per instance; guarded so that a broken
# package still answers Twilio (with the apology below) instead of failing every call with a 502.
_IMPORT_ERROR: str | None = None
try:
    from backline import answer as _answer
    from backline.aws import runtime as _runtime
    from backline.core import twiml as _twiml

    XML = _answer.XML
    TWILIO_PATHS = tuple(endpoint.path for endpoint in _answer.ENDPOINTS)
except Exception as _error:  # pragma: no cover - exercised by a broken deployment only
    _IMPORT_ERROR = f"{type(_error).__name__}: {_error}"

# Twilio's paths also with a final slash, as they may be pasted into Twilio's console that way.
ROUTES = frozenset(
    {
        HEALTH_PATH,
        *(variant for path in TWILIO_PATHS for variant in (path, path + "/")),
    }
)

# The answer when nothing else can be built: the built-in apology, then hang up.
APOLOGY = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f'<Say language="{BUILT_IN_LANGUAGE}" voice="{BUILT_IN_VOICE}">{escape(BUILT_IN_MESSAGE)}'
    "</Say><Hangup /></Response>"
)


def _xml(answer: str) -> dict[str, Any]:
    return response(200, answer, XML)


def _last_resort() -> str:
    return APOLOGY if _IMPORT_ERROR else _twiml.LAST_RESORT_TWIML


class FallbackHandler:
    """Callable as a Lambda handler; one instance per warm Lambda instance."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime: Runtime | None = None
        if _IMPORT_ERROR:
            log.critical(
                "backline cannot be imported (%s); every call gets the apology", _IMPORT_ERROR
            )
        else:
            self.runtime = runtime if runtime is not None else _runtime.Runtime()

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            result = self.handle(event, context)
        except Exception:  # the last line of defence: still valid TwiML, never a 5xx
            log.exception(
                "the fallback handler failed; answering with the apology",
                extra=tagged(LogEvent.LAST_RESORT),
            )
            return _xml(_last_resort())
        service = self.runtime.service if self.runtime is not None else None
        if service is not None and service.config.insecure_demo:
            name, value = _answer.INSECURE_HEADER
            result["headers"] = {**result.get("headers", {}), name.lower(): value}
        return result

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        deadline = self.runtime.deadline(context) if self.runtime is not None else None
        service = self.runtime.boot(deadline) if self.runtime is not None else None
        if service is not None:
            public_url = service.config.public_url
        else:  # still find the route, to answer it with the apology rather than a 404
            public_url = self.runtime.env.get("BACKLINE_PUBLIC_URL", "") if self.runtime else ""
        try:
            request = parse_event(event, base_path=base_path_of(public_url), routes=ROUTES)
        except EventError as error:
            log.warning("not an HTTP event this function answers: %s", error)
            return response(400, "not an API Gateway or Function URL request", TEXT)
        if request.path == HEALTH_PATH:
            return self._health(request, service)
        if request.path not in ROUTES:
            return response(404, "Not Found", TEXT)
        if request.method not in ("GET", "POST"):
            return response(405, "Method Not Allowed", TEXT, {"allow": "GET, POST"})
        if service is None or deadline is None:
            # Unverified: without the token no signature can be checked, and a caller must
            # not hear an error for it. The apology carries nothing worth forging.
            log.error(
                "%s answered with the built-in apology: backline is not running (%s)",
                request.path,
                _IMPORT_ERROR or (self.runtime.boot_error if self.runtime else None),
                extra=tagged(LogEvent.LAST_RESORT),
            )
            return _xml(_last_resort())
        return self._answer(request, service, context, deadline)

    def _answer(
        self, request: HttpRequest, service: Service, context: Any, deadline: Deadline
    ) -> dict[str, Any]:
        """:func:`backline.answer.respond` over the event: the checks that need the body first,
        and the record written within the deadline (then the dispatcher woken)."""
        runtime = self.runtime
        assert runtime is not None
        answerer = service.answerer
        if len(request.body) > _answer.MAX_BODY_BYTES:
            service.count_too_large()
            return response(413, "request body over 64 KiB refused", TEXT)
        refusal = ""

        async def verify() -> dict[str, str] | None:
            nonlocal refusal
            signature = request.header("x-twilio-signature")
            if not service.config.insecure_demo and not _answer.plausible_signature(signature):
                # Refused before the form is parsed: a flood of unsigned posts costs nothing.
                refusal = (
                    "X-Twilio-Signature is malformed" if signature else "no X-Twilio-Signature"
                )
                return None
            params = request.form()
            runtime.refresh_if_stale(service, deadline)
            # For GET, Twilio signs the URL with its query and no body parameters.
            signed = params if request.method == "POST" else {}
            authentic = answerer.is_authentic(request.path, request.query, signed, signature) or (
                # The token may have been rotated in its secret since this instance started.
                runtime.reread_auth_tokens(service, context, deadline)
                and answerer.is_authentic(request.path, request.query, signed, signature)
            )
            if not authentic:
                refusal = "invalid Twilio signature"
                return None
            answerer.note_check(request.path, request.query, authentic=True)
            if service.snapshot.current.source == "built-in":
                log.error(
                    "%s answered from the built-in last resort: no table of numbers at hand (%s)",
                    request.path,
                    service.snapshot.last_error or "still loading",
                    extra=tagged(LogEvent.LAST_RESORT),
                )
            return params

        async def wait(record: Record) -> str | None:
            recorded, first_answer = self._record(service, record, deadline)
            if first_answer is None and recorded and not service.journal.pending:
                # In the database, where the dispatcher reads it. (While records wait in the
                # local journal, new ones join it: the dispatcher could not see them yet.)
                # A repeated request (a first answer) wakes nobody: it adds nothing new.
                runtime.kick(record.key, record.call_sid, context, deadline)
            return first_answer

        answer = _answer.run_now(
            _answer.respond(
                answerer,
                request.path,
                request.query,
                verify=verify,
                wait=wait,
                logger=log,
                log_extra=tagged(LogEvent.LAST_RESORT),
            )
        )
        if answer is None:
            return self._refused(request, answerer, refusal)
        return _xml(answer)

    @staticmethod
    def _refused(request: HttpRequest, answerer: Answerer, reason: str) -> dict[str, Any]:
        """403. Every refusal is one tagged line here (the template's metric filter counts
        them), so the answerer only counts it for /healthz, without a line of its own."""
        answerer.note_check(request.path, request.query, authentic=False, log_refusal=False)
        # The URL as configured, never the query (data from the internet).
        log.warning(
            "refused %s %s: %s (checked over %s%s)",
            request.method,
            request.path,
            reason,
            answerer.signed_url(request.path, ""),
            "?..." if request.query else "",
            extra=tagged(LogEvent.SIGNATURE_REFUSED),
        )
        return response(403, "invalid Twilio signature", TEXT)

    def _record(
        self, service: Service, record: Record, deadline: Deadline
    ) -> tuple[bool, str | None]:
        """Record before answering: (whether it was stored, the first answer for a repeat)."""
        assert self.runtime is not None
        try:
            first_answer = service.recorder.record_within_timeout(
                record, self.runtime.record_budget(deadline)
            )
        except Exception:
            # Both the database and the journal failed (a full /tmp, say). The caller is still
            # forwarded; the loss is logged loudly for the operator.
            log.critical(
                "could not record %s anywhere; answering anyway", record.key, exc_info=True
            )
            return False, None
        if service.journal.pending:
            # While the journal holds records, every new one joins it (the recorder keeps their
            # order), so a non-empty journal after this write means this record is in it.
            log.warning(
                "%s journaled in this instance's %s, not stored in the database (%d waiting): %s",
                record.key,
                service.journal.path,
                service.journal.pending,
                service.recorder.last_error,
                extra=tagged(LogEvent.JOURNALED),
            )
        return True, first_answer

    def _health(self, request: HttpRequest, service: Service | None) -> dict[str, Any]:
        if request.method not in ("GET", "HEAD"):
            return response(405, "Method Not Allowed", TEXT, {"allow": "GET"})
        if service is None:
            reason = _IMPORT_ERROR or (self.runtime.boot_error if self.runtime else None)
            body = {"status": "down", "error": reason}
            return response(503, json.dumps(body), "application/json")
        return response(200, json.dumps(service.health()), "application/json")


_handler: FallbackHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.fallback.handler``)."""
    global _handler
    if _handler is None:
        _handler = FallbackHandler()
    return _handler(event, context)
