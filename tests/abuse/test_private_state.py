"""Secrets kept: files only the service's user can read, a public /healthz without hosts or users,
and the primary's ErrorUrl stored without its credentials or query."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from backline.manage.migrate import upgrade
from tests.abuse.conftest import OFFICE, TWILIO, run_backline, serve_env, signed_call, wait_for
from tests.processes import PrivatePostgres, Server
from tests.support import add_number, query


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a service (022): files would be world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes_under(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root.parent)): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
    }


@pytest.mark.slow
def test_the_state_directory_and_every_file_in_it_are_private(
    postgres: PrivatePostgres, tmp_path: Path, usual_umask: None
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    engine = make_engine(postgres.url)
    # A receiver on this host (allowed here), so that calls are told from the journal too.
    add_channel(engine, "webhook", "http://127.0.0.1:9/hook", allow_private=True)
    engine.dispose()
    state = tmp_path / "deep" / "state"
    server = Server(serve_env(postgres.url, state, BACKLINE_NOTIFY_IN_SERVE="1"), tmp_path)
    try:
        signed_call(server)
        postgres.stop()
        _call, status, _text = signed_call(server)  # journaled, and told from the journal
        assert status == 200
        wait_for(lambda: (state / "outbox.db").exists(), what="the local outbox")
        assert server.health()["journal_pending"] == 1
        modes = modes_under(state)
    finally:
        server.stop()
    for expected in ("journal.db", "snapshot.json", "database.json", "outbox.db"):
        assert f"state/{expected}" in modes, modes
    assert any(name.endswith("-wal") for name in modes), modes
    assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700  # created along the way too


@pytest.mark.slow
def test_a_sqlite_database_is_created_private(tmp_path: Path, usual_umask: None) -> None:
    (tmp_path / "data").mkdir()  # the operator's folder, with the operator's mode
    url = f"sqlite:///{tmp_path}/data/backline.db"
    env = {"BACKLINE_DATABASE_URL": url, "BACKLINE_STATE_DIR": str(tmp_path / "state")}
    result = run_backline(env, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    add_number(url, TWILIO, OFFICE)  # leaves a -wal behind while open: also private
    files = {name: mode for name, mode in modes_under(tmp_path / "data").items() if name != "data"}
    assert "data/backline.db" in files
    assert {name: mode for name, mode in files.items() if mode & 0o077} == {}


@pytest.mark.slow
def test_the_public_healthz_names_no_host_port_or_user(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    server = Server(serve_env(postgres.url, tmp_path / "state"), tmp_path)

    def healthz_text() -> str:
        with urllib.request.urlopen(server.base + "/healthz", timeout=5) as response:
            return str(response.read().decode())

    try:
        up = healthz_text()
        postgres.stop()
        signed_call(server)
        wait_for(lambda: json.loads(healthz_text())["database"] == "down")
        down = healthz_text()
    finally:
        server.stop()
    assert json.loads(down)["database_error"] == "OperationalError"
    for text in (up, down):
        assert "127.0.0.1" not in text and str(postgres.port) not in text
        assert "user" not in text and "postgres" not in text, text
    # The operator still gets the whole reason, in the log.
    assert "127.0.0.1" in server.log.read_text()


def test_the_error_url_is_stored_without_credentials_or_query(
    sqlite_url: str, tmp_path: Path
) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    server = Server(serve_env(sqlite_url, tmp_path / "state"), tmp_path)
    try:
        call, status, _ = signed_call(
            server, error_url="https://ivr:pa55@voice.example.com:8443/app/incoming?key=k3y#x"
        )
        assert status == 200
    finally:
        server.stop()
    assert query(
        sqlite_url, "SELECT error_url FROM calls WHERE call_sid = :s", s=call["CallSid"]
    ) == [("https://voice.example.com:8443/app/incoming",)]
