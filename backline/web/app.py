"""The one ASGI app: Twilio's endpoints and /healthz (uvicorn, containers and Lambda alike).

Every request passes :class:`~backline.web.limits.BoundedRequests` first (bodies over 64 KiB
refused with 413; in insecure demo mode, a header on every response). A GET or POST to one of
Twilio's paths then goes straight to the Twilio endpoint (a plain ASGI app); everything else
goes to the management surface (under /api and /admin) or, the lifespan included, through
Starlette, whose routes serve the same Twilio endpoint (for HEAD, and the 405 to other methods).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backline.answer import ENDPOINTS
from backline.config import Config
from backline.service import Service
from backline.web.limits import App, BoundedRequests, Receive, Send
from backline.web.surface import ManagementSurface
from backline.web.twilio import Scope, TwilioEndpoints

__all__ = ["TwilioFirst", "create_app", "twilio_routes"]

# How long the event loop's thread may hold the interpreter lock while the recorder's thread
# waits for it (Python's default is 5 ms). Each group commit's reply wakes the recorder's thread,
# which must take the lock to settle the batch and send the next one; the event loop lets go of
# it at every system call, but takes it straight back, so the recorder often waited out the whole
# interval, and every answer waiting on the commit with it. At 0.5 ms, `make bench` answered
# about a tenth more calls a second on SQLite and on PostgreSQL.
_SWITCH_INTERVAL_SECONDS = 0.0005


def twilio_routes(endpoints: TwilioEndpoints) -> list[Route]:
    """Twilio's endpoints, one per row of :data:`backline.answer.ENDPOINTS` (GET and POST, as
    either may be configured in the console).

    Each also answers with a final slash, as someone may paste it into Twilio's console: the
    same answer, signed over the URL as Twilio requested it, never a redirect (which would be
    built from the Host header, and Twilio would not sign the new URL anyway).
    """
    return [
        Route(path, endpoints, methods=["GET", "POST"])
        for endpoint in ENDPOINTS
        for path in (endpoint.path, endpoint.path + "/")
    ]


class TwilioFirst:
    """ASGI: a GET or POST to one of Twilio's paths (with or without a final slash) straight to
    the Twilio endpoint, everything else to ``app``. Starlette's routing, request and response
    objects and middleware would cost a warm answer more than its signature check and planning
    together; the endpoint answers every request itself and never raises."""

    def __init__(self, twilio: TwilioEndpoints, app: App) -> None:
        self.twilio = twilio
        self.app = app
        self.paths = frozenset(
            path for endpoint in ENDPOINTS for path in (endpoint.path, endpoint.path + "/")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in ("POST", "GET")
            and not scope.get("root_path")
        ):
            await self.twilio(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(config: Config | None = None, *, service: Service | None = None) -> BoundedRequests:
    service = service or Service(config or Config.from_env())
    endpoints = TwilioEndpoints(service.answerer)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse(service.health())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)
        service.start()
        try:
            yield
        finally:
            endpoints.close()
            service.stop()
            sys.setswitchinterval(switch_interval)

    # /api and /admin: answered only while the admin surface is on (docs/admin.md), and
    # loaded on first use, so the answer path never imports them.
    surface = ManagementSurface(service.config)
    app = Starlette(
        routes=[
            *twilio_routes(endpoints),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    # Starlette would redirect a path that differs by a final slash to a URL built from the Host
    # header; behind a proxy that URL is wrong, and Twilio does not follow redirects for POST.
    app.router.redirect_slashes = False
    app.state.service = service
    return BoundedRequests(
        TwilioFirst(endpoints, surface.beside(app)),
        insecure=service.config.insecure_demo,
        on_too_large=service.count_too_large,
    )
