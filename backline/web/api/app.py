"""The REST API's ASGI app, mounted at ``/api``: routes and the OpenAPI document from
:data:`~backline.web.api.operations.OPERATIONS`, bearer tokens, RFC 9457 problems.

Only the management side runs here, in worker threads (SQLAlchemy), never on the event loop
that answers Twilio.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backline.config import Config
from backline.web.api.openapi import document
from backline.web.api.operations import OPERATIONS, Context, Operation, Problem, parse_body, run

__all__ = ["MAX_BODY", "api_app", "problem_response"]

# `serve` bounds every request at 64 KiB before the API sees it; `admin serve` takes up to this
# (a whole table of numbers in one PUT).
MAX_BODY = 4 * 1024 * 1024
PROBLEM = "application/problem+json"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(problem.to_json(), ensure_ascii=False),
        status_code=problem.status,
        media_type=PROBLEM,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


async def _body(request: Request) -> bytes:
    """The body, read no further than :data:`MAX_BODY`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Problem(413, "Too large", f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def api_app(engine: Engine, config: Config) -> Starlette:
    from backline.manage import tokens

    def authenticate(request: Request) -> tokens.Access:
        access = tokens.check(engine, _bearer(request), env_token=config.admin_token)
        if access is None:
            raise Problem(401, "Unauthorized", "a valid bearer token is required")
        return access

    def endpoint(operation: Operation) -> Any:
        async def handle(request: Request) -> Response:
            try:
                raw = await _body(request)
                access = await run_in_threadpool(authenticate, request)
                body = parse_body(operation, raw)
                ctx = Context(engine, config, access, "api")
                result = await run_in_threadpool(
                    run, operation, ctx, dict(request.path_params), dict(request.query_params), body
                )
            except Problem as problem:
                extra = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
                return problem_response(problem, extra)
            if operation.status == 204:
                return Response(status_code=204, headers=SECURITY_HEADERS)
            return JSONResponse(result, status_code=operation.status, headers=SECURITY_HEADERS)

        return handle

    spec = document()

    async def openapi(_request: Request) -> Response:
        return JSONResponse(spec, headers={"Cache-Control": "no-cache"})

    async def not_found(_request: Request, _exc: Exception) -> Response:
        return problem_response(Problem(404, "Not found", "no such API path"))

    async def not_allowed(_request: Request, _exc: Exception) -> Response:
        return problem_response(
            Problem(405, "Method not allowed", "this path does not take that method")
        )

    routes = [Route("/openapi.json", openapi, methods=["GET"])]
    by_path: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, []).append(operation)
    for path, operations in by_path.items():
        for operation in operations:
            routes.append(Route(path, endpoint(operation), methods=[operation.method]))
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.router.redirect_slashes = False
    return app
