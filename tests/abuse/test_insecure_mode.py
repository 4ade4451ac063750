"""Demo mode cannot reach production: `backline demo` keeps to its own files whatever the
environment says, insecure mode next to a PostgreSQL URL or a token must be asked for twice,
and a server in insecure mode says so in /healthz and on every answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from backline.store.database import Database
from tests.abuse.conftest import FALLBACK, TWILIO, run_backline, serve_env
from tests.processes import PrivatePostgres, Server, free_port
from tests.support import AUTH_TOKEN, query

UNSIGNED_CALL = f"CallSid=CAinsecure0001&To=%2B{TWILIO[1:]}&From=%2B819012345678".encode()


def public_tables(url: str) -> list[str]:
    db = Database(url)
    connection = db.connect()
    cursor = connection.cursor()
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    names = [row[0] for row in cursor.fetchall()]
    connection.close()
    return names


@pytest.mark.slow
def test_insecure_mode_next_to_production_settings_must_be_asked_for_twice(
    postgres: PrivatePostgres, sqlite_url: str, tmp_path: Path
) -> None:
    state = str(tmp_path / "state")
    # The variable alone, next to a token.
    with_token = serve_env(sqlite_url, tmp_path / "state", BACKLINE_INSECURE_DEMO="1")
    result = run_backline(with_token, "serve", "--port", "1")
    assert result.returncode == 2
    assert "a Twilio auth token" in result.stderr and "--insecure-demo" in result.stderr
    # The flag alone, next to PostgreSQL.
    on_postgres = {"BACKLINE_DATABASE_URL": postgres.url, "BACKLINE_STATE_DIR": state}
    result = run_backline(on_postgres, "serve", "--insecure-demo", "--port", "1")
    assert result.returncode == 2
    assert "a PostgreSQL database" in result.stderr
    assert public_tables(postgres.url) == []
    # The flag alone, on SQLite without a token: the local trial it is meant for.
    trial = {"BACKLINE_DATABASE_URL": sqlite_url, "BACKLINE_STATE_DIR": state}
    server = Server(trial, tmp_path, "--insecure-demo")
    server.stop()
    # Both: the operator means it.
    server = Server({**with_token, "BACKLINE_INSECURE_DEMO": "1"}, tmp_path, "--insecure-demo")
    try:
        status, text = server.post(FALLBACK, UNSIGNED_CALL, {})
        health = server.health()
        request = urllib.request.Request(server.base + FALLBACK, data=UNSIGNED_CALL)
        with urllib.request.urlopen(request, timeout=5) as response:
            header = response.headers.get("X-Backline-Insecure-Demo")
        with urllib.request.urlopen(server.base + "/healthz", timeout=5) as response:
            health_header = response.headers.get("X-Backline-Insecure-Demo")
    finally:
        server.stop()
    assert status == 200 and "<Response>" in text
    assert health["insecure_demo"] is True
    assert header == health_header == "signatures are not checked"
    assert "INSECURE DEMO MODE" in server.log.read_text()


def test_a_secure_server_says_it_is_not_insecure(sqlite_url: str, tmp_path: Path) -> None:
    server = Server(serve_env(sqlite_url, tmp_path / "state"), tmp_path)
    try:
        health = server.health()
        status, _text = server.post(FALLBACK, UNSIGNED_CALL, {})
        with urllib.request.urlopen(server.base + "/healthz", timeout=5) as response:
            header = response.headers.get("X-Backline-Insecure-Demo")
    finally:
        server.stop()
    assert health["insecure_demo"] is False and header is None
    assert status == 403


@pytest.mark.slow
def test_demo_never_touches_the_database_the_environment_names(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKLINE_", "TWILIO_"))}
    env.update(
        {
            "BACKLINE_DATABASE_URL": postgres.url,
            "BACKLINE_STATE_DIR": str(tmp_path / "production-state"),
            "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "XDG_STATE_HOME": str(tmp_path / "xdg"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path / "demo.log"
    with log.open("w") as log_file:  # the child has its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", "backline.cli", "demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        health = None
        while health is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    health = json.load(response)
            except OSError:
                time.sleep(0.2)
        request = urllib.request.Request(base + FALLBACK, data=UNSIGNED_CALL)
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = response.read().decode()
            header = response.headers.get("X-Backline-Insecure-Demo")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    output = log.read_text()
    assert health["insecure_demo"] is True and header == "signatures are not checked"
    assert "<Dial" in answer  # a demo number, from the demo's own database
    assert public_tables(postgres.url) == []
    assert not (tmp_path / "production-state").exists()
    demo_db = f"sqlite:///{tmp_path}/xdg/backline/demo/backline.db"
    assert query(demo_db, "SELECT call_sid FROM calls") == [("CAinsecure0001",)]
    assert "ignores BACKLINE_STATE_DIR, BACKLINE_DATABASE_URL, BACKLINE_TWILIO_AUTH_TOKEN" in output
    assert f"export BACKLINE_STATE_DIR={tmp_path}/xdg/backline/demo" in output
