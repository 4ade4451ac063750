"""Stand-ins for the receivers, on 127.0.0.1: an HTTP server that answers as told (Slack, a
webhook, Twilio's Messages endpoint). The ``stand_in`` and ``stand_in_factory`` fixtures in the
root conftest.py make them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], str] | str


class StandIn:
    """An HTTP receiver. ``answers`` is a queue of (status, headers, body) or "hang"; when it
    is empty, ``respond`` (if set) chooses from the request, else ``default`` is used."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.default: Answer = (200, {}, "ok")
        self.respond: Callable[[Received], Answer] | None = None
        self.delay = 0.0  # seconds each answer waits (a slow receiver)
        self.lock = threading.Lock()
        self.release = threading.Event()  # set to let hanging requests go
        self.open_requests = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with stand_in.lock:
                    stand_in.received.append(item)
                    if stand_in.answers:
                        answer = stand_in.answers.pop(0)
                    elif stand_in.respond is not None:
                        answer = stand_in.respond(item)
                    else:
                        answer = stand_in.default
                    stand_in.open_requests += 1
                try:
                    if answer == "hang":
                        stand_in.release.wait(30)
                        return
                    if stand_in.delay:
                        time.sleep(stand_in.delay)
                    assert not isinstance(answer, str)
                    status, headers, text = answer
                    data = text.encode()
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    item.status = status
                finally:
                    with stand_in.lock:
                        stand_in.open_requests -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [item for item in self.received if 200 <= item.status < 300]

    def texts(self) -> list[str]:
        return [str(item.json().get("text", "")) for item in self.accepted()]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
