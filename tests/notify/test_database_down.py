"""The database goes down (the likeliest outage): the team still hears of the call, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.testclient import TestClient

from backline.notify.admin import add_channel
from backline.service import Service
from backline.store.admin import make_engine
from backline.store.database import Database
from backline.web.app import create_app
from tests.notify.conftest import StandIn, wait_for
from tests.notify.test_dispatcher import FAST
from tests.processes import Relay


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    from tests.conftest import _empty_postgres

    _empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    proxy = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    yield urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}")), proxy
    proxy.close()


def fanned_out(url: str, event_id: str) -> bool:
    database = Database(url)
    connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            database.sql("SELECT fanned_out FROM events WHERE id = :id"), {"id": event_id}
        )
        row = cursor.fetchone()
        return bool(row and row[0])
    finally:
        connection.close()


def test_slack_hears_of_a_call_while_the_database_is_down_and_only_once(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, make_config: Any
) -> None:
    url, proxy = proxied
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url, label="ops", allow_private=True)
    engine.dispose()
    config = make_config(url, insecure_demo=True, **FAST)
    service = Service(config)
    service.start()
    try:
        assert len(service.snapshot.current.channels) == 1
        proxy.cut()  # the database is gone
        with pytest.raises(Exception):  # noqa: B017 (any driver error will do)
            Database(url, timeout=0.5).connect()
        client = TestClient(create_app(service=service))
        answer = client.post(
            "/twilio/voice/fallback",
            data={
                "CallSid": "CAdown",
                "To": "+81312345678",
                "From": "+819011112222",
                "ErrorCode": "11205",
                "ErrorUrl": "https://primary.example.com/voice",
            },
        )
        assert answer.status_code == 200
        assert "<Response>" in answer.text
        wait_for(lambda: service.journal.pending > 0, what="the call journaled")
        wait_for(lambda: len(stand_in.accepted()) == 1, what="the Slack message")
        assert "11205" in stand_in.texts()[0]
        proxy.restore()  # the database is back: the journal is replayed into it
        wait_for(lambda: service.journal.pending == 0, timeout=30, what="the replay")
        assert fanned_out(postgres_url, "CAdown:diverted")
        # A later call goes through the database; by the time it is told, the replayed one
        # would have been told again if it were going to be.
        answer = client.post(
            "/twilio/voice/fallback",
            data={"CallSid": "CAafter", "To": "+81399999999", "From": "+819011112222"},
        )
        wait_for(lambda: len(stand_in.accepted()) == 2, what="the next call's message")
        assert "+81399999999" in stand_in.texts()[1]
        assert sum("+81312345678" in text for text in stand_in.texts()) == 1
    finally:
        service.stop()


def test_a_process_started_during_the_outage_tells_from_its_saved_channel_list(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, make_config: Any
) -> None:
    url, proxy = proxied
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    config = make_config(url, insecure_demo=True, **FAST)
    first = Service(config)
    first.start(background=False)  # loads and saves the table, channels included
    first.journal.close()
    proxy.cut()
    service = Service(config)
    service.start()
    try:
        assert service.snapshot.current.source == "local-copy"
        client = TestClient(create_app(service=service))
        client.post("/twilio/voice/fallback", data={"CallSid": "CAcold", "To": "+81312345678"})
        wait_for(lambda: len(stand_in.accepted()) == 1, what="the Slack message")
        assert "+81312345678" in stand_in.texts()[0]
    finally:
        service.stop()


def test_after_the_database_returns_a_stale_connection_is_no_failed_delivery(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, tmp_path: Path
) -> None:
    """A sender thread's connection dies with the database; the next delivery after its
    return must go out without a traceback or a "could not record" that never happened."""
    import signal
    import subprocess

    from tests.notify.conftest import call_record, record
    from tests.notify.test_processes import BACKLINE, worker_env

    url, proxy = proxied
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    # One sender thread, so the delivery after the outage uses the connection it had before.
    env = worker_env(url, tmp_path, BACKLINE_NOTIFY_WORKERS="1", BACKLINE_LOG_LEVEL="INFO")
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen([*BACKLINE, "worker"], env=env, stderr=output)
    try:
        record(postgres_url, call_record("CAbefore", to="+81311111111"))
        wait_for(lambda: len(stand_in.accepted()) == 1, what="the first message")
        proxy.cut()
        wait_for(lambda: "store unavailable" in log.read_text(), what="the outage noticed")
        proxy.restore()
        record(postgres_url, call_record("CAafter", to="+81322222222"))
        wait_for(lambda: len(stand_in.accepted()) == 2, timeout=30, what="the next message")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    text = log.read_text()
    assert "+81322222222" in stand_in.texts()[1]
    assert "Traceback" not in text, text
    assert "could not record" not in text, text
    assert "nothing sent" not in text, text
