"""The database is the likeliest thing to be down when the fallback is needed. These tests stop
a real PostgreSQL server under a running `backline serve` and check that calls are still
forwarded, recorded locally, and written to the database once it is back."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest

from backline.manage.migrate import upgrade
from tests.processes import PrivatePostgres, Server
from tests.support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    add_number,
    dial_params,
    fallback_params,
    query,
    signed_post,
)

TWILIO = "+815031234567"
OFFICE = ("+81312345678",)
FALLBACK = "/twilio/voice/fallback"


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


def env_for(url: str, state: Path, **extra: str) -> dict[str, str]:
    return {
        "BACKLINE_DATABASE_URL": url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state),
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.5",
        "BACKLINE_DB_TIMEOUT_SECONDS": "1",
        **extra,
    }


def call(server: Server, to: str = TWILIO) -> tuple[dict[str, str], ElementTree.Element]:
    params = fallback_params(to)
    status, text = server.post(FALLBACK, *signed_post(FALLBACK, params))
    assert status == 200, text
    return params, ElementTree.fromstring(text)


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.mark.slow
def test_answers_continue_while_the_database_is_down_and_the_journal_catches_up(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    server = Server(env_for(postgres.url, tmp_path / "state"), tmp_path)
    try:
        before, root = call(server)
        assert [n.text for n in root.iter("Number")] == list(OFFICE)

        postgres.stop()
        during = []
        for _ in range(5):
            params, root = call(server)
            # Still forwarded, from the in-memory table.
            assert [n.text for n in root.iter("Number")] == list(OFFICE)
            during.append(params)
        # The outcome of a call that started before the outage is recorded too.
        status, text = server.post(
            "/twilio/voice/dial-status?step=0",
            *signed_post("/twilio/voice/dial-status?step=0", dial_params(before, "completed", 30)),
        )
        assert status == 200 and "<Hangup" in text
        health = server.health()
        assert health["database"] == "down" and health["journal_pending"] >= 5

        postgres.start()
        wait_for(lambda: server.health()["journal_pending"] == 0)
        sids = [p["CallSid"] for p in during]
        rows = query(postgres.url, "SELECT call_sid, outcome FROM calls ORDER BY created_at")
        assert rows[0] == (before["CallSid"], "answered")
        assert sorted(sid for sid, _ in rows[1:]) == sorted(sids)
        assert query(postgres.url, "SELECT count(*) FROM events WHERE kind = 'diverted'") == [(6,)]
        wait_for(lambda: server.health()["status"] == "ok")
    finally:
        server.stop()


@pytest.mark.slow
def test_a_process_started_while_the_database_is_down_uses_its_saved_copy(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(postgres.url)
    add_number(postgres.url, TWILIO, OFFICE)
    state = tmp_path / "state"
    first = Server(env_for(postgres.url, state), tmp_path)
    first.stop()
    assert (state / "snapshot.json").exists()

    postgres.stop()
    second = Server(env_for(postgres.url, state), tmp_path)
    try:
        assert second.health()["snapshot"]["source"] == "local-copy"
        params, root = call(second)
        assert [n.text for n in root.iter("Number")] == list(OFFICE)
        postgres.start()
        wait_for(lambda: second.health()["journal_pending"] == 0)
        assert query(postgres.url, "SELECT call_sid FROM calls") == [(params["CallSid"],)]
    finally:
        second.stop()


@pytest.mark.slow
def test_with_no_database_and_no_copy_the_built_in_last_resort_forwards(
    tmp_path: Path,
) -> None:
    # Nothing listens on port 9: connections are refused at once.
    url = "postgresql+psycopg2://postgres@127.0.0.1:9/nothing"
    server = Server(
        env_for(url, tmp_path / "state", BACKLINE_LAST_RESORT_FORWARD_TO="+81300000000"), tmp_path
    )
    try:
        assert server.health()["snapshot"]["source"] == "built-in"
        _, root = call(server)
        dial = root.find("Dial")
        assert dial is not None and [n.text for n in dial] == ["+81300000000"]
        assert dial.get("callerId") == TWILIO
        assert server.health()["journal_pending"] == 1
    finally:
        server.stop()
