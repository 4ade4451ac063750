"""The server is killed (-9) in the middle of a burst and restarted: every call that got an
answer had been recorded before it; the calls cut off are answered when Twilio tries again,
and recorded once; each call reaches the team's webhook in exactly one delivery."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import (
    Answer,
    Calls,
    assert_answered_in_time,
    assert_each_call_delivered_once,
    assert_each_call_recorded_once,
    call,
    environment,
    forwarded,
    prepare,
    recorded,
)
from tests.processes import Server
from tests.standins import StandIn
from tests.support import wait_for

pytestmark = pytest.mark.faults


def test_killed_during_a_burst_and_restarted(
    database_url: str, stand_in: StandIn, servers: Callable[..., Server], tmp_path: Path
) -> None:
    prepare(database_url, ("webhook", stand_in.url))
    env = environment(database_url, tmp_path / "state")
    server = servers(env)
    calls = Calls()
    answered: list[Answer] = []
    lock = threading.Lock()

    def count(answer: Answer) -> None:
        with lock:
            answered.append(answer)

    first: list[Answer] = []
    burst = threading.Thread(
        target=lambda: first.extend(calls.burst(server, 60, workers=8, pace=0.02, on_answer=count))
    )
    burst.start()
    wait_for(lambda: len(answered) >= 20, what="the burst under way")
    server.stop(signal.SIGKILL)
    burst.join()
    cut_off = [answer for answer in first if not forwarded(answer)]
    assert cut_off, "the kill fell after the burst: nothing was cut off"

    # Durable before the answer: every call answered before the kill is in the database.
    stored = set(recorded(database_url))
    assert {answer.call_sid for answer in first if forwarded(answer)} <= stored

    restarted = servers(env)
    # Twilio tries again with the same CallSid: the call is answered now, and a call that was
    # recorded just before the kill gets its first answer again, not a second record.
    retried = [call(restarted.base, answer.call_sid, answer.caller) for answer in cut_off]
    assert_answered_in_time(retried)
    assert_answered_in_time(calls.burst(restarted, 10))
    assert_each_call_recorded_once(database_url, calls)
    assert_each_call_delivered_once(stand_in, calls)
