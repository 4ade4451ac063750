"""``/api`` and ``/admin``: the management surface, off unless a token exists or
``BACKLINE_ADMIN_TOKEN`` is set, and loaded only when it is first asked for while on.

The answer path never imports what is behind it (SQLAlchemy, Jinja2, the API's table): this
module only decides, with the management engine, whether the surface is on, and hands requests
to the apps built on first use. Its work runs in worker threads, away from Twilio's answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from backline.config import Config

__all__ = ["PREFIXES", "ManagementSurface"]

PREFIXES = ("/api", "/admin")
_RECHECK_SECONDS = 5.0


class ManagementSurface:
    """An ASGI app for the paths under :data:`PREFIXES`; 404 while the surface is off."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._engine: Any = None
        self._apps: dict[str, Any] = {}
        self._enabled_until = 0.0
        self._enabled = False

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from backline.manage.engine import open_database as open_engine

                self._engine = open_engine(self.config.database_url)
            return self._engine

    def enabled(self) -> bool:
        now = time.monotonic()
        if now < self._enabled_until:
            return self._enabled
        on = bool(self.config.admin_token)
        if not on:
            try:
                from backline.manage.tokens import any_token

                on = any_token(self.engine())
            except Exception:
                on = False
        self._enabled, self._enabled_until = on, now + _RECHECK_SECONDS
        return on

    def _app(self, prefix: str) -> Any:
        with self._lock:
            app = self._apps.get(prefix)
        if app is not None:
            return app
        engine = self.engine()
        if prefix == "/api":
            from backline.web.api.app import api_app

            app = api_app(engine, self.config)
        else:
            from backline.web.admin.app import admin_app

            app = admin_app(engine, self.config)
        with self._lock:
            return self._apps.setdefault(prefix, app)

    def prefix_of(self, path: str) -> str | None:
        return next((p for p in PREFIXES if path == p or path.startswith(p + "/")), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        prefix = self.prefix_of(path)
        if prefix is None or not await run_in_threadpool(self.enabled):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        root = scope.get("root_path", "")
        if path == prefix:
            await RedirectResponse(root + prefix + "/", status_code=307)(scope, receive, send)
            return
        app = await run_in_threadpool(self._app, prefix)
        child = dict(scope)
        child["root_path"] = root + prefix
        await app(child, receive, send)

    def beside(self, app: ASGIApp) -> ASGIApp:
        """``app`` with the paths under :data:`PREFIXES` handed to this surface instead (by
        prefix, before any routing: every path under them is the surface's, however odd)."""

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and self.prefix_of(scope.get("path", "")) is not None:
                await self(scope, receive, send)
            else:
                await app(scope, receive, send)

        return dispatch
