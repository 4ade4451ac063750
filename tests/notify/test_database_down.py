"""The database goes down (the likeliest outage): the team still hears of the call, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.testclient import TestClient

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from backline.notify.dispatcher import Dispatcher
from backline.notify.grouping import ChannelState, Decision
from backline.notify.outbox import Outbox
from backline.service import Service
from backline.store.database import Database
from backline.web.app import create_app
from tests.notify.test_dispatcher import FAST
from tests.processes import Relay
from tests.standins import Received, StandIn
from tests.support import call_record, record, wait_for


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
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


@pytest.mark.slow
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
        # The receiver's answer comes before the dispatcher records it: the outage starts
        # once the sender thread has used its connection for that (a message sent as the
        # database goes is the test above).
        outbox = Outbox(Database(postgres_url))
        wait_for(lambda: outbox.counts().get("sent") == 1, what="the first message recorded")
        outbox.close()
        proxy.cut()
        wait_for(lambda: "store unavailable" in log.read_text(), what="the outage noticed")
        proxy.restore()
        record(postgres_url, call_record("CAafter", to="+81322222222"))
        wait_for(lambda: len(stand_in.accepted()) == 2, timeout=30, what="the next message")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    text = log.read_text()
    texts = stand_in.texts()
    assert len(texts) == 2, texts
    assert "+81311111111" in texts[0]
    assert "+81322222222" in texts[1]
    assert "Traceback" not in text, text
    assert "could not record" not in text, text
    assert "nothing sent" not in text, text


def lease_owner(url: str, channel_id: int) -> str | None:
    database = Database(url)
    connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            database.sql("SELECT lease_owner FROM channels WHERE id = :id"), {"id": channel_id}
        )
        row = cursor.fetchone()
        return None if row is None else row[0]
    finally:
        connection.close()


def test_a_message_sent_as_the_database_goes_is_recorded_on_its_return_not_sent_again(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, make_config: Any
) -> None:
    """The receiver accepted the message, then the database went before it was recorded. The
    dispatcher still holds the channel's lease: it records the message when the database is
    back instead of letting the lease lapse and sending it a second time."""
    url, proxy = proxied
    engine = make_engine(postgres_url)
    channel_id = add_channel(engine, "slack", stand_in.url, allow_private=True).spec.id
    engine.dispose()
    record(postgres_url, call_record("CAedge", to="+81311111111"))

    def accept_then_lose_the_database(_: Received) -> tuple[int, dict[str, str], str]:
        proxy.cut()  # before the dispatcher hears the answer, so before it can record it
        return 200, {}, "ok"

    stand_in.respond = accept_then_lose_the_database
    config = make_config(url, **{**FAST, "notify_quiet_seconds": 0.0})
    dispatcher = Dispatcher(config, Database(url, timeout=1.0))  # not started: one thread
    try:
        assert dispatcher.run_once("database")
        # (the stand-in counts a message accepted once its answer is written, a moment after
        # the dispatcher may have read it)
        wait_for(lambda: len(stand_in.accepted()) == 1, what="the message accepted")
        stand_in.respond = None
        with pytest.raises(Exception):  # noqa: B017 (the database is still away)
            dispatcher.run_once("database")
        proxy.restore()
        assert dispatcher.run_once("database")
        outbox = Outbox(Database(postgres_url))
        assert outbox.counts() == {"sent": 1, "unfanned": 0}
        outbox.close()
        assert lease_owner(postgres_url, channel_id) is None
        record(postgres_url, call_record("CAnext", to="+81322222222"))

        def next_message_told() -> bool:
            dispatcher.run_once("database")
            return len(stand_in.accepted()) == 2

        wait_for(next_message_told, what="the next call's message")
        texts = stand_in.texts()
        assert len(texts) == 2, texts
        assert "+81322222222" in texts[1]
        assert sum("+81311111111" in text for text in texts) == 1, texts
    finally:
        dispatcher.stop()


def test_a_result_recorded_late_does_not_end_a_later_lease_of_the_same_owner(
    database_url: str, stand_in: StandIn
) -> None:
    engine = make_engine(database_url)
    channel_id = add_channel(engine, "slack", stand_in.url, allow_private=True).spec.id
    engine.dispose()
    record(database_url, call_record("CAlate"))
    outbox = Outbox(Database(database_url))
    try:
        outbox.fan_out("2030-01-01T00:00:00.000000Z")
        now = 1.9e9
        (first,) = outbox.claim("owner", now, 10.0, 1)
        # The first lease lapsed (its holder was cut off from the database) and the same
        # owner claimed the channel again.
        (second,) = outbox.claim("owner", now + 20.0, 10.0, 1)
        assert first.lease != second.lease
        decision = Decision(None, (), ChannelState(None, 0), now, None)
        outbox.delivered(channel_id, "owner", decision, "200 ok", now, lease=first.lease)
        assert lease_owner(database_url, channel_id) == "owner"
        outbox.delivered(channel_id, "owner", decision, "200 ok", now, lease=second.lease)
        assert lease_owner(database_url, channel_id) is None
    finally:
        outbox.close()
