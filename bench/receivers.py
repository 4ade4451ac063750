"""A loopback receiver for the benchmarks: it takes Slack's and webhooks' POSTs, answers 200,
and keeps when each arrived and what kind of message it was."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def message_kind(body: bytes) -> str:
    """The kind of a message: Slack's context line ("backline · summary") or a webhook's type."""
    try:
        value = json.loads(body)
    except ValueError:
        return "?"
    if "blocks" in value:
        try:
            return str(value["blocks"][-1]["elements"][0]["text"]).removeprefix("backline · ")
        except (KeyError, IndexError, TypeError):
            return "?"
    return str(value.get("type", "?"))


class Receiver:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.kinds: list[str] = []
        self.event = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.times.append(time.perf_counter())
                    receiver.kinds.append(message_kind(body))
                receiver.event.set()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T/B/X"

    def counts(self) -> dict[str, int]:
        with self.lock:
            kinds = list(self.kinds)
        return {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
