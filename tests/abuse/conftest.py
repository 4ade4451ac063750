"""The fault and abuse suite: a real `backline serve` attacked over real sockets, on a full
disk, with its database file pulled away, its state directory pointed at the wrong database.
Each test reproduces one way a bad day or a hostile client hurt the fallback, and asserts what
a user cares about: the signed call is answered (in time, where time is the point), nothing is
recorded in the wrong place or lost, nothing private is left readable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.processes import PrivatePostgres, Server
from tests.support import AUTH_TOKEN, PUBLIC_URL, fallback_params, signed_post

TWILIO = "+815031234567"
OFFICE = ("+81312345678",)
FALLBACK = "/twilio/voice/fallback"
STATUS = "/twilio/voice/dial-status"


def serve_env(database_url: str, state: Path, **extra: str) -> dict[str, str]:
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state),
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.5",
        "BACKLINE_DB_TIMEOUT_SECONDS": "1",
        "BACKLINE_NOTIFY_IN_SERVE": "0",
        **extra,
    }


def signed_call(server: Server, **params: str) -> tuple[dict[str, str], int, str]:
    """A diverted call exactly as Twilio sends it; returns its parameters, status and body."""
    call = fallback_params(TWILIO, **params)
    status, text = server.post(FALLBACK, *signed_post(FALLBACK, call))
    return call, status, text


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in time: {what or condition}")
        time.sleep(0.1)


def raw_exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer (and close) before taking everything
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:  # a reset after the answer: what was read is what counts
        pass
    return received


def status_of(response: bytes) -> int | None:
    """The status code of a raw HTTP response, None when there was none."""
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


def run_backline(env: dict[str, str], *args: str, cwd: Path | None = None) -> CompletedProcess[str]:
    """`backline ...` in a child process, as typed in a shell, with only ``env``'s settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BACKLINE_", "TWILIO_"))}
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
