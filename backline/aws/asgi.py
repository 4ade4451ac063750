"""The whole ASGI app on Lambda, through Mangum: ``backline.aws.asgi.handler``.

The same Starlette app ``backline serve`` runs, for REST (v1), HTTP (v2) and Function URL
events. It answers exactly as ``backline.aws.fallback`` does but imports Starlette's app and
routing and Mangum, which costs a cold start more than twice the lean handler's (measured in
bench/coldstart.py), so the SAM template uses the lean handler for the fallback function.

Differences from running under uvicorn, all because Lambda freezes the instance between events:
the app's lifespan is off (it would start and stop the service around every event), the service
is started without its background threads, the table of numbers is refreshed inline when stale,
and the dispatcher is woken before the handler returns.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from backline.answer import ENDPOINTS, FALLBACK_PATH, STATUS_PATH, XML
from backline.aws.events import EventError, base_path_of, parse_event, response, with_app_path
from backline.aws.runtime import Runtime
from backline.core.twiml import LAST_RESORT_TWIML
from backline.web.app import create_app

__all__ = ["AsgiHandler", "handler"]

ROUTES = frozenset({*(endpoint.path for endpoint in ENDPOINTS), "/healthz"})


class AsgiHandler:
    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime or Runtime()
        self._adapter: Mangum | None = None

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        service = self.runtime.boot()
        if service is None:
            return response(200, LAST_RESORT_TWIML, XML)
        try:
            request = parse_event(
                event, base_path=base_path_of(service.config.public_url), routes=ROUTES
            )
        except EventError:
            return response(
                400, "not an API Gateway or Function URL request", "text/plain; charset=utf-8"
            )
        if self._adapter is None:
            # Lifespan off: the service is already started (without threads) by the runtime.
            self._adapter = Mangum(
                create_app(service=service), lifespan="off", api_gateway_base_path="/"
            )
        self.runtime.refresh_if_stale(service)
        result: dict[str, Any] = self._adapter(with_app_path(event, request.path), context)
        # Wake the dispatcher for an answered Twilio request whose record reached the database
        # (with records waiting in the local journal, new ones join it: nothing to send yet).
        if (
            request.path in (FALLBACK_PATH, STATUS_PATH)
            and result.get("statusCode") == 200
            and request.method in ("GET", "POST")
            and not service.journal.pending
            and self.runtime.kicker is not None
        ):
            call_sid = request.form().get("CallSid", "")
            if call_sid:
                self.runtime.kick(f"{request.path}:{call_sid}", call_sid, context)
        return result


_handler: AsgiHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.asgi.handler``)."""
    global _handler
    if _handler is None:
        _handler = AsgiHandler()
    return _handler(event, context)
