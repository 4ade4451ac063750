"""The database goes down (the likeliest outage): the team still hears of the call, once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
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


class Proxy:
    """A TCP relay to PostgreSQL that can be cut (the database "goes down") and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def down(self) -> None:
        assert self.listener is not None
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the
        # socket listening until that accept() returned.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, Proxy]]:
    from tests.conftest import _empty_postgres

    _empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    yield urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}")), proxy
    proxy.down()


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
    postgres_url: str, proxied: tuple[str, Proxy], stand_in: StandIn, make_config: Any
) -> None:
    url, proxy = proxied
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url, label="ops")
    engine.dispose()
    config = make_config(url, insecure_demo=True, **FAST)
    service = Service(config)
    service.start()
    try:
        assert len(service.snapshot.current.channels) == 1
        proxy.down()  # the database is gone
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
        proxy.up()  # the database is back: the journal is replayed into it
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
    postgres_url: str, proxied: tuple[str, Proxy], stand_in: StandIn, make_config: Any
) -> None:
    url, proxy = proxied
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url)
    engine.dispose()
    config = make_config(url, insecure_demo=True, **FAST)
    first = Service(config)
    first.start(background=False)  # loads and saves the table, channels included
    first.journal.close()
    proxy.down()
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
