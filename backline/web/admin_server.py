"""The app `backline admin serve` runs: /api, /admin and /healthz, no Twilio paths (Twilio's
paths never take admin credentials, and the admin paths never take Twilio signatures)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from backline.config import Config
from backline.web.surface import ManagementSurface

__all__ = ["create_admin_app"]


def create_admin_app(config: Config | None = None) -> ASGIApp:
    surface = ManagementSurface(config or Config.from_env())

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "role": "admin"})

    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
    app.router.redirect_slashes = False
    return surface.beside(app)
