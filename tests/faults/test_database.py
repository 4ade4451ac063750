"""The database stops in the middle of traffic and starts again: calls are forwarded from the
table in memory and journaled, then replayed; each call is told once, from wherever it was."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import (
    Answer,
    Calls,
    assert_answered_in_time,
    assert_each_call_recorded_once,
    assert_each_call_told_once,
    environment,
    prepare,
)
from tests.processes import PrivatePostgres, Server
from tests.standins import StandIn
from tests.support import wait_for

pytestmark = pytest.mark.faults


def test_database_stopped_mid_traffic_and_started_again(
    private_postgres: PrivatePostgres,
    stand_in: StandIn,
    servers: Callable[..., Server],
    tmp_path: Path,
) -> None:
    url = private_postgres.url
    prepare(url, ("slack", stand_in.url))
    server = servers(environment(url, tmp_path / "state"))
    calls = Calls()
    answered: list[Answer] = []
    lock = threading.Lock()

    def count(answer: Answer) -> None:
        with lock:
            answered.append(answer)

    during: list[Answer] = []
    burst = threading.Thread(
        target=lambda: during.extend(calls.burst(server, 40, workers=8, pace=0.05, on_answer=count))
    )
    burst.start()
    wait_for(lambda: len(answered) >= 10, what="traffic under way")
    private_postgres.stop()
    stopped_after = len(answered)
    burst.join()
    assert stopped_after < len(during)  # calls kept coming while the database was down
    assert_answered_in_time(during)
    wait_for(lambda: server.health()["journal_pending"] > 0, what="calls journaled")

    private_postgres.start()
    assert_answered_in_time(calls.burst(server, 10))
    assert_each_call_recorded_once(url, calls)
    wait_for(lambda: server.health()["journal_pending"] == 0, what="the journal replayed")
    assert_each_call_told_once(stand_in, calls)
