"""The web admin's ASGI app, mounted at ``/admin``.

Every page but the sign-in form needs a session. Every change goes through the REST API's
operations (:mod:`backline.web.api.operations`), so the web shares the API's checks, its access
rules (a read-only token or user cannot write) and its audit entries (source ``web``).

Defences: the session cookie is HttpOnly, SameSite=Strict, ``Secure`` and ``__Host-`` prefixed
over HTTPS; every form carries the session's CSRF token and a cross-site ``Origin`` is refused;
the pages run no script and the Content-Security-Policy allows none; nothing is cached.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from backline.config import Config
from backline.manage import tokens, users
from backline.web.admin import sessions
from backline.web.admin.i18n import LANGUAGES, pick_language, translator
from backline.web.admin.throttle import SignInThrottle
from backline.web.api.operations import Context, Problem, by_name, run

__all__ = ["CSP", "admin_app"]

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
MAX_FORM = 64 * 1024
_SIGN_IN_COOKIE = "backline_sign_in"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie_name(request: Request) -> str:
    # The __Host- prefix (Secure, Path=/, no Domain) is only possible over HTTPS.
    return "__Host-backline_session" if _secure(request) else "backline_session"


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Problem(413, "Too large", "the form is too large")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def admin_app(
    engine: Engine, config: Config, *, throttle: SignInThrottle | None = None
) -> Starlette:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    throttle = throttle or SignInThrottle()

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    stylesheet = (HERE / "static" / "admin.css").read_bytes()
    env.filters["when"] = _when(config.timezone)
    env.filters["shown"] = _shown

    def language(request: Request) -> str:
        return pick_language(
            request.cookies.get("backline_lang"), request.headers.get("accept-language", "")
        )

    def page(request: Request, template: str, status: int = 200, **values: Any) -> Response:
        lang = language(request)
        root = request.scope.get("root_path", "")
        html = env.get_template(template).render(
            t=translator(lang),
            lang=lang,
            languages=LANGUAGES,
            root=root,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def session_of(request: Request) -> sessions.Session | None:
        return sessions.find(engine, request.cookies.get(_cookie_name(request), ""))

    def signed_in(handler: Any) -> Any:
        async def wrapped(request: Request) -> Response:
            session = await run_in_threadpool(session_of, request)
            root = request.scope.get("root_path", "")
            if session is None:
                return RedirectResponse(f"{root}/sign-in", status_code=303, headers=HEADERS)
            if request.method == "POST":
                form = await _form(request)
                token = _one(form, "csrf")
                if not _same_origin(request) or not hmac.compare_digest(
                    token.encode(), session.csrf.encode()
                ):
                    return Response(
                        "Forbidden: the form is stale or from another site", 403, headers=HEADERS
                    )
                request.state.form = form
            request.state.session = session
            ctx = Context(engine, config, session.access, "web")
            request.state.ctx = ctx
            response: Response = await handler(request)
            return response

        return wrapped

    def common(request: Request) -> dict[str, Any]:
        session: sessions.Session = request.state.session
        return {"access": session.access, "csrf": session.csrf}

    async def call(
        request: Request,
        name: str,
        path: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        return await run_in_threadpool(
            run, by_name(name), request.state.ctx, path or {}, query or {}, body or {}
        )

    # -- signing in and out ---------------------------------------------------------------------
    async def sign_in_form(
        request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        nonce = request.cookies.get(_SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
        response = page(request, "sign_in.html", status, error=error, csrf=nonce)
        response.set_cookie(
            _SIGN_IN_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
        )
        return response

    async def sign_in_page(request: Request) -> Response:
        return await sign_in_form(request)

    async def sign_in(request: Request) -> Response:
        form = await _form(request)
        nonce = request.cookies.get(_SIGN_IN_COOKIE, "")
        if (
            not _same_origin(request)
            or not nonce
            or not hmac.compare_digest(nonce.encode(), _one(form, "csrf").encode())
        ):
            return await sign_in_form(request, translator(language(request))("bad_sign_in"), 403)
        token, name, password = (
            _one(form, "token").strip(),
            _one(form, "user"),
            _one(form, "password"),
        )
        # Failed sign-ins are counted per address and per user name; past the limit, refused
        # unchecked for a while.
        host = request.client.host if request.client else ""
        keys = [f"address:{host}"] + ([f"user:{name.strip().casefold()}"] if name else [])
        wait = throttle.wait(keys)
        if wait:
            minutes = max(1, -(-wait // 60))
            message = translator(language(request))("too_many_sign_ins").format(minutes=minutes)
            response = await sign_in_form(request, message, 429)
            response.headers["Retry-After"] = str(wait)
            return response

        def check() -> tokens.Access | None:
            if token:
                return tokens.check(engine, token, env_token=config.admin_token)
            if name and password:
                return users.check(engine, name, password)
            return None

        access = await run_in_threadpool(check)
        if access is None:
            if token or (name and password):
                throttle.failed(keys)
            return await sign_in_form(request, translator(language(request))("bad_sign_in"), 401)
        throttle.succeeded(keys[1:])
        session_id, _session = await run_in_threadpool(sessions.start, engine, access)
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/", status_code=303, headers=HEADERS)
        response.set_cookie(
            _cookie_name(request),
            session_id,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
            max_age=int(sessions.LIFETIME.total_seconds()),
        )
        response.delete_cookie(_SIGN_IN_COOKIE, path="/")
        return response

    @signed_in
    async def sign_out(request: Request) -> Response:
        await run_in_threadpool(
            sessions.end, engine, request.cookies.get(_cookie_name(request), "")
        )
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/sign-in", status_code=303, headers=HEADERS)
        response.delete_cookie(
            _cookie_name(request), path="/", secure=_secure(request), httponly=True
        )
        return response

    async def choose_language(request: Request) -> Response:
        chosen = request.query_params.get("lang", "")
        back = request.query_params.get("back", "")
        root = request.scope.get("root_path", "")
        if not back.startswith(root + "/") or "//" in back or "\\" in back:
            back = f"{root}/"
        response = RedirectResponse(back, status_code=303, headers=HEADERS)
        if chosen in LANGUAGES:
            response.set_cookie(
                "backline_lang",
                chosen,
                samesite="strict",
                secure=_secure(request),
                path="/",
                max_age=365 * 86400,
            )
        return response

    async def stylesheet_file(_request: Request) -> Response:
        return Response(
            stylesheet,
            media_type="text/css",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    # -- pages ----------------------------------------------------------------------------------
    @signed_in
    async def dashboard(request: Request) -> Response:
        from backline.manage import coverage
        from backline.manage.calls import dashboard as counts

        data = await run_in_threadpool(counts, engine)
        last_audit = await run_in_threadpool(coverage.last, engine)
        channels = await call(request, "channels.list")
        failing = [channel for channel in channels if channel["status"] != "ok"]
        outages = await call(request, "outages.list")
        return page(
            request,
            "dashboard.html",
            **common(request),
            data=data,
            chart=_chart(data),
            failing=failing,
            outages=outages,
            coverage=last_audit,
        )

    @signed_in
    async def numbers(request: Request) -> Response:
        q = request.query_params.get("q", "")[:100]
        entries = await call(request, "numbers.list", query={"q": q})
        return page(request, "numbers.html", **common(request), numbers=entries, q=q)

    async def _number_page(
        request: Request,
        number: str,
        *,
        error: Problem | None = None,
        saved: bool = False,
        form: dict[str, Any] | None = None,
    ) -> Response:
        entry = await call(request, "numbers.get", {"number": number})
        tried = await call(request, "numbers.try", {"number": number})
        values = form or _form_values(entry)
        return page(
            request,
            "number.html",
            error.status if error else 200,
            **common(request),
            entry=entry,
            values=values,
            tried=tried,
            error=error,
            saved=saved,
        )

    @signed_in
    async def number(request: Request) -> Response:
        try:
            return await _number_page(
                request,
                request.path_params["number"],
                saved=request.query_params.get("saved") == "1",
            )
        except Problem as problem:
            return page(request, "error.html", problem.status, **common(request), problem=problem)

    @signed_in
    async def number_save(request: Request) -> Response:
        form = request.state.form
        number_text = request.path_params["number"]
        body: dict[str, Any] = {
            "destinations": [
                line.strip() for line in _one(form, "destinations").splitlines() if line.strip()
            ],
            "client": _one(form, "client").strip() or None,
            "mode": _one(form, "mode"),
            "ring_timeout": _one(form, "ring_timeout").strip(),
            "message": _one(form, "message").strip() or None,
            "language": _one(form, "language").strip() or None,
            "voice": _one(form, "voice").strip() or None,
            "enabled": _one(form, "enabled") == "on",
            "when_unanswered": _one(form, "when_unanswered").strip() or None,
            "voicemail_max_length": _one(form, "voicemail_max_length").strip() or None,
            "transcribe": _TRISTATE.get(_one(form, "transcribe")),
            "screen": _TRISTATE.get(_one(form, "screen")),
            "hours": _lines(_one(form, "hours")) or None,
            "timezone": _one(form, "timezone").strip() or None,
            "closed_on": _lines(_one(form, "closed_on")) or None,
            "holidays": _one(form, "holidays").strip() or None,
            "when_closed": _one(form, "when_closed").strip() or None,
            "closed_message": _one(form, "closed_message").strip() or None,
        }
        try:
            entry = await call(request, "numbers.update", {"number": number_text}, body=body)
        except Problem as problem:
            # The form as it was sent, so that nothing typed is lost.
            raw = ("destinations", "hours", "closed_on", "transcribe", "screen")
            shown = {**body, "number": number_text, **{name: _one(form, name) for name in raw}}
            try:
                return await _number_page(request, number_text, error=problem, form=shown)
            except Problem as other:
                return page(request, "error.html", other.status, **common(request), problem=other)
        root = request.scope.get("root_path", "")
        return RedirectResponse(
            f"{root}/numbers/{quote(entry['number'])}?saved=1", status_code=303, headers=HEADERS
        )

    @signed_in
    async def clients(request: Request) -> Response:
        entries = await call(request, "clients.list")
        channels = await call(request, "channels.list")
        by_client: dict[str | None, list[dict[str, Any]]] = {}
        for channel in channels:
            by_client.setdefault(channel["client"], []).append(channel)
        tested = request.query_params.get("tested", "")
        return page(
            request,
            "clients.html",
            **common(request),
            clients=entries,
            by_client=by_client,
            tested=tested,
            state=request.query_params.get("state", ""),
            result=request.query_params.get("result", "")[:300],
        )

    @signed_in
    async def channel_test(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        channel_id = request.path_params["id"]
        try:
            outcome = await call(request, "channels.test", {"id": channel_id})
            state, result = ("ok" if outcome["ok"] else "failed"), outcome["result"]
        except Problem as problem:
            state, result = "failed", problem.detail
        return RedirectResponse(
            f"{root}/clients?tested={quote(channel_id)}&state={state}&result={quote(result[:300])}",
            status_code=303,
            headers=HEADERS,
        )

    @signed_in
    async def calls(request: Request) -> Response:
        query = {
            key: request.query_params.get(key, "")[:200]
            for key in ("number", "client", "outcome", "cursor")
        }
        try:
            found = await call(request, "calls.list", query={k: v for k, v in query.items() if v})
        except Problem as problem:
            return page(request, "error.html", problem.status, **common(request), problem=problem)
        return page(
            request,
            "calls.html",
            **common(request),
            calls=found["items"],
            next=found["next_cursor"],
            query=query,
        )

    @signed_in
    async def audit_page(request: Request) -> Response:
        from backline.manage import audit

        cursor = request.query_params.get("cursor", "")
        before = int(cursor) if cursor.isdigit() and len(cursor) < 18 else None
        entries = await run_in_threadpool(
            lambda: audit.list_entries(engine, limit=51, before_id=before)
        )
        more = len(entries) > 50
        entries = entries[:50]
        return page(
            request,
            "audit.html",
            **common(request),
            entries=entries,
            next=str(entries[-1].id) if more and entries else None,
        )

    async def not_found(request: Request, _exc: Exception) -> Response:
        return Response("Not Found", 404, headers=HEADERS)

    routes = [
        Route("/", dashboard, methods=["GET"]),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/language", choose_language, methods=["GET"]),
        Route("/static/admin.css", stylesheet_file, methods=["GET"]),
        Route("/numbers", numbers, methods=["GET"]),
        Route("/numbers/{number}", number, methods=["GET"]),
        Route("/numbers/{number}", number_save, methods=["POST"]),
        Route("/clients", clients, methods=["GET"]),
        Route("/channels/{id}/test", channel_test, methods=["POST"]),
        Route("/calls", calls, methods=["GET"]),
        Route("/audit", audit_page, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.router.redirect_slashes = False
    return app


# A setting of a number that is on, off, or the setting's value ("").
_TRISTATE: dict[str, bool] = {"on": True, "off": False}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _form_values(entry: dict[str, Any]) -> dict[str, Any]:
    """A number as its form shows it: lists a line each, on/off/"" for the settings."""

    def tristate(value: bool | None) -> str:
        return "" if value is None else ("on" if value else "off")

    return {
        **entry,
        "destinations": "\n".join(entry["destinations"]),
        "hours": "\n".join(entry["hours"]),
        "closed_on": "\n".join(entry["closed_on"]),
        "transcribe": tristate(entry["transcribe"]),
        "screen": tristate(entry["screen"]),
    }


def _when(timezone: str) -> Any:
    """Stored (UTC) times as people read them: ``2026-11-24 14:05:03 JST`` in BACKLINE_TIMEZONE."""
    from zoneinfo import ZoneInfo

    from backline.core.messages import format_time

    zone = ZoneInfo(timezone)
    return lambda at: format_time(str(at), zone) if at else ""


def _shown(value: Any) -> str:
    """A value of the audit log as a person reads it: lists joined, nothing as a dash."""
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _chart(data: dict[str, Any]) -> dict[str, Any]:
    """An SVG bar chart, drawn here (no script): one stacked bar a minute, one colour an outcome."""
    palette = ["#2f7d32", "#c62828", "#ef6c00", "#1565c0", "#6a1b9a", "#00838f", "#5d4037"]
    colours = {outcome: palette[i % len(palette)] for i, outcome in enumerate(data["outcomes"])}
    width, height, bar = 600, 120, 10
    peak = max([sum(counts.values()) for counts in data["per_minute"].values()] + [1])
    bars = []
    for index, minute in enumerate(data["minutes"]):
        y = height
        for outcome, count in sorted(data["per_minute"].get(minute, {}).items()):
            h = round(count / peak * (height - 10))
            y -= h
            bars.append(
                {
                    "x": index * bar,
                    "y": y,
                    "h": h,
                    "w": bar - 2,
                    "fill": colours[outcome],
                    "title": f"{minute}Z {outcome}: {count}",
                }
            )
    return {"width": width, "height": height, "bars": bars, "colours": colours, "peak": peak}
