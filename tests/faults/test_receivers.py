"""The team's receiver misbehaves (down, slow, hanging, rate limiting): calls are answered as
if nothing were wrong, and each call is told once when the receiver takes messages again."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from tests.faults.harness import (
    Calls,
    assert_answered_in_time,
    assert_each_call_recorded_once,
    assert_each_call_told_once,
    environment,
    prepare,
)
from tests.processes import Server, free_port
from tests.standins import StandIn
from tests.support import query, wait_for

pytestmark = pytest.mark.faults


CALLS = 20


def test_receiver_down_then_back(
    sqlite_url: str, servers: Callable[..., Server], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    prepare(sqlite_url, ("slack", f"http://127.0.0.1:{port}/services/T/B/X"))
    server = servers(environment(sqlite_url, tmp_path / "state"))
    calls = Calls()

    assert_answered_in_time(calls.burst(server, CALLS))
    assert_each_call_recorded_once(sqlite_url, calls)
    wait_for(
        lambda: query(sqlite_url, "SELECT last_failure_at FROM channels")[0][0] is not None,
        what="a refused delivery",
    )
    receiver = StandIn(port)
    try:
        assert_each_call_told_once(receiver, calls)
    finally:
        receiver.close()


def test_receiver_slow(
    sqlite_url: str, stand_in: StandIn, servers: Callable[..., Server], tmp_path: Path
) -> None:
    stand_in.delay = 0.5  # well under the 2 s send timeout: slow, but it answers
    prepare(sqlite_url, ("slack", stand_in.url))
    server = servers(environment(sqlite_url, tmp_path / "state"))
    calls = Calls()

    assert_answered_in_time(calls.burst(server, CALLS))
    assert_each_call_recorded_once(sqlite_url, calls)
    assert_each_call_told_once(stand_in, calls, timeout=CALLS + 30)


def test_receiver_hanging(
    sqlite_url: str, stand_in: StandIn, servers: Callable[..., Server], tmp_path: Path
) -> None:
    stand_in.default = "hang"  # takes the request and never answers
    prepare(sqlite_url, ("slack", stand_in.url))
    server = servers(environment(sqlite_url, tmp_path / "state"))
    calls = Calls()

    assert_answered_in_time(calls.burst(server, CALLS))
    assert_each_call_recorded_once(sqlite_url, calls)
    wait_for(lambda: len(stand_in.received) >= 2, what="a delivery tried again after a hang")
    stand_in.default = (200, {}, "ok")
    # A message whose send hung was never accepted: it is sent again, and still only once
    # accepted; nothing is skipped.
    assert_each_call_told_once(stand_in, calls)


def test_receiver_rate_limiting(
    sqlite_url: str, stand_in: StandIn, servers: Callable[..., Server], tmp_path: Path
) -> None:
    limited = (429, {"Retry-After": "1"}, "rate_limited")
    stand_in.answers = [limited, limited, limited]
    prepare(sqlite_url, ("slack", stand_in.url))
    server = servers(environment(sqlite_url, tmp_path / "state"))
    calls = Calls()

    assert_answered_in_time(calls.burst(server, CALLS))
    assert_each_call_recorded_once(sqlite_url, calls)
    assert_each_call_told_once(stand_in, calls)
    # Retry-After is honoured: after each 429, nothing is posted for a second.
    received = list(stand_in.received)
    for refused, following in pairwise(received):
        if refused.status == 429:
            assert following.at - refused.at >= 0.95, (refused.at, following.at)
