"""Bounded request bodies, for every path of the ASGI app (uvicorn, containers and Lambda alike).

A body announced larger than :data:`~backline.answer.MAX_BODY_BYTES` is refused with 413 before a
byte of it is read; a chunked body is counted as it arrives and refused the moment it passes the
limit, so no request can make the process hold more than that. Time limits on reading headers
and bodies belong to the HTTP server (see ``backline.web.server``): an ASGI app only starts once
the headers are in.

In insecure demo mode every response also carries :data:`~backline.answer.INSECURE_HEADER`, so
that a client (or a person with curl) sees that signatures are not checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from backline.answer import INSECURE_HEADER, MAX_BODY_BYTES

__all__ = ["BoundedRequests"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_TOO_LARGE = f"request body over {MAX_BODY_BYTES // 1024} KiB refused".encode()


async def _refuse_too_large(send: Send, extra: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_TOO_LARGE)).encode()),
                # The rest of the body is never read: the connection cannot carry another request.
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE})


class BoundedRequests:
    """ASGI middleware: bodies of at most ``max_body`` bytes; ``on_too_large`` counts refusals."""

    def __init__(
        self,
        app: App,
        *,
        max_body: int = MAX_BODY_BYTES,
        insecure: bool = False,
        on_too_large: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.extra_headers = (
            [(INSECURE_HEADER[0].lower().encode(), INSECURE_HEADER[1].encode())] if insecure else []
        )
        self.on_too_large = on_too_large

    def _too_large(self) -> None:
        if self.on_too_large is not None:
            self.on_too_large()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                # The server has checked that it is a number; anything else is not ours to judge.
                if value.isdigit() and int(value) > self.max_body:
                    self._too_large()
                    await _refuse_too_large(send, self.extra_headers)
                    return
                if not self.extra_headers:
                    # The server delivers no more than the length announced: nothing to count
                    # (the usual case, Twilio's, pays for nothing more).
                    await self.app(scope, receive, send)
                    return
                break
        received = 0
        over = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # The app sees a client that went away; its answer is replaced by the 413.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def marked_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return
            if message["type"] == "http.response.start":
                started = True
                if self.extra_headers:
                    headers = [*message.get("headers", []), *self.extra_headers]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, bounded_receive, marked_send)
        if over and not started:
            self._too_large()
            await _refuse_too_large(send, self.extra_headers)
