"""Fanning out: two dispatchers on one database turn each event into one delivery per channel."""

from __future__ import annotations

import threading

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from backline.notify.outbox import Outbox
from backline.store.database import Database
from tests.support import call_record, query, record


def test_two_dispatchers_fanning_out_together_make_each_delivery_once(database_url: str) -> None:
    engine = make_engine(database_url)
    for name in ("one", "two"):
        add_channel(engine, "webhook", f"https://{name}.example.com/hook", allow_private=True)
    engine.dispose()
    for index in range(60):
        record(database_url, call_record(f"CAfan{index:04d}"))
    outboxes = [Outbox(Database(database_url)) for _ in range(2)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def drain(outbox: Outbox) -> None:
        start.wait()
        try:
            # Small passes, so that the two take turns (and, on SQLite, read the same events
            # before either marks them).
            while outbox.fan_out("2030-01-01T00:00:00.000000Z", limit=7):
                pass
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)

    threads = [threading.Thread(target=drain, args=(outbox,)) for outbox in outboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for outbox in outboxes:
        outbox.close()
    assert not failures, failures
    assert query(database_url, "SELECT count(*) FROM deliveries") == [(120,)]
    assert query(database_url, "SELECT count(DISTINCT id) FROM deliveries") == [(120,)]
    assert query(database_url, "SELECT count(*) FROM events WHERE fanned_out = :f", f=False) == [
        (0,)
    ]
