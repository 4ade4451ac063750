"""uvicorn's HTTP protocol with the limits it lacks: a deadline for each request and a bound on
the size of its head. Used by `backline serve` (``http=`` in ``uvicorn.run``).

uvicorn has no timeout for receiving a request: its keep-alive timer covers only the idle time
between requests and is reset by every byte, so a client that sends a header (or a body) a byte
a second holds a connection, and memory, for as long as it likes; and httptools accepts headers
of any size. Here each connection must deliver a complete request (line, headers and body)
within ``BACKLINE_REQUEST_TIMEOUT_SECONDS`` of opening, or of the previous answer, or it is
closed; and a request line plus headers over :data:`MAX_HEAD_BYTES` gets a 431 and a close.
Twilio sends a whole request in milliseconds, so neither limit comes near it. Closed
connections are counted in one log line a minute, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backline.config import Config

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

log = logging.getLogger("backline.web")

# A Twilio request's line and headers are about one KiB; a GET carries the form in its query.
MAX_HEAD_BYTES = 32 * 1024
_LOG_EVERY_SECONDS = 60.0
_SWEEP_SECONDS = 0.25


@cache
def _request_timeout() -> float:
    # Read from the environment once per process: uvicorn builds the protocol itself, and its
    # worker processes get the configuration the same way the app does.
    return Config.from_env().request_timeout_seconds


class _Closures:
    """Connections closed for being too slow or too large, logged at most once a minute."""

    def __init__(self) -> None:
        self.unlogged: dict[str, int] = {}
        self.next_log_at = 0.0

    def count(self, reason: str) -> None:
        self.unlogged[reason] = self.unlogged.get(reason, 0) + 1
        now = time.monotonic()
        if now < self.next_log_at:
            return
        self.next_log_at = now + _LOG_EVERY_SECONDS
        summary = "; ".join(f"{count} {reason}" for reason, count in self.unlogged.items())
        self.unlogged = {}
        log.warning("closed connection(s): %s", summary)


_closures = _Closures()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Each connection carries a deadline (a time, or None while the application works on a
    request that is in); one sweep a quarter-second closes the connections past it. A timer per
    request would cost every answer a heap push and a cancel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: float | None = None
        self._head_pending = True  # waiting for (the rest of) a request line and headers
        self._head_bytes = 0
        self._refused = False

    # -- the deadline -----------------------------------------------------------------------
    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.time() + _request_timeout()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        _sweeper.watch(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._head_pending = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._refused:
            return
        answered_already = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        self._head_pending, self._head_bytes = True, 0
        if not answered_already:
            # The request is in; the application has the time it needs to answer.
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request, on a kept-alive connection, has the same deadline

    def expire_if_late(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self.transport.is_closing():
            return
        self._deadline = None
        _closures.count(
            f"did not send a whole request within {_request_timeout():g} s "
            "(BACKLINE_REQUEST_TIMEOUT_SECONDS)"
        )
        # The application, if it was waiting for the body, sees a client that went away.
        self.transport.close()

    # -- the size of the head -----------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # a 431 was sent and the connection is closing: nothing more is read
        if self._head_pending:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no end of the headers after this many bytes: they are too large. (Counted only
        # while the head is incomplete, so a body in the same read never counts against it.)
        if self._head_pending and self._head_bytes > MAX_HEAD_BYTES and not self._refused:
            self._refuse_head()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        super().on_body(body)

    def _refuse_head(self) -> None:
        self._refused = True
        self._deadline = None
        _closures.count(f"sent a request line and headers over {MAX_HEAD_BYTES // 1024} KiB")
        message = b"request line and headers too large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(message)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + message
        )
        self.transport.close()


class _Sweeper:
    """Closes the connections of this process that are past their deadline, four times a
    second (so a deadline is kept to within a quarter-second)."""

    def __init__(self) -> None:
        self.connections: weakref.WeakSet[BoundedHttpToolsProtocol] = weakref.WeakSet()
        self.running: asyncio.AbstractEventLoop | None = None

    def watch(self, connection: BoundedHttpToolsProtocol) -> None:
        self.connections.add(connection)
        if self.running is not connection.loop:
            self.running = connection.loop
            connection.loop.call_later(_SWEEP_SECONDS, self.sweep, connection.loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in list(self.connections):
            if connection.transport.is_closing():
                self.connections.discard(connection)
            else:
                connection.expire_if_late(now)
        if not loop.is_closed():
            loop.call_later(_SWEEP_SECONDS, self.sweep, loop)


_sweeper = _Sweeper()
