"""The one ASGI app: Twilio's endpoints and /healthz (uvicorn, containers and Lambda alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backline.answer import FALLBACK_PATH, STATUS_PATH
from backline.config import Config
from backline.service import Service
from backline.web.twilio import TwilioEndpoints

__all__ = ["create_app", "twilio_routes"]


def twilio_routes(endpoints: TwilioEndpoints) -> list[Route]:
    """Twilio's two endpoints; GET and POST, as either may be configured in the console."""
    return [
        Route(FALLBACK_PATH, endpoints.fallback, methods=["GET", "POST"]),
        Route(STATUS_PATH, endpoints.dial_status, methods=["GET", "POST"]),
    ]


def create_app(config: Config | None = None, *, service: Service | None = None) -> Starlette:
    service = service or Service(config or Config.from_env())
    endpoints = TwilioEndpoints(service.answerer)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse(service.health())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = Starlette(
        routes=[*twilio_routes(endpoints), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
