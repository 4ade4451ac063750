"""The journal's disk is full: calls are still answered in time; with the database up nothing
is lost; what could be stored nowhere (the database down as well) is counted where an operator
looks ("unrecorded" in /healthz) and written once there is room; and the server starts on a
full disk.

The disk is a small tmpfs of the test's own, filled under a running server or before it starts.
A disk that turns read-only under a running process (as one does on I/O errors) cannot be staged
here: a kernel refuses to remount a disk read-only while files on it are open for writing. To
the journal it is the same fault as a full disk, a write that fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    Calls,
    SmallDisk,
    assert_answered_in_time,
    assert_each_call_recorded_once,
    assert_each_call_told_once,
    environment,
    prepare,
)
from tests.processes import Relay, Server, relayed
from tests.standins import StandIn

pytestmark = [pytest.mark.faults, pytest.mark.postgres_only]


@pytest.fixture
def database(postgres_url: str, stand_in: StandIn) -> Iterator[tuple[str, Relay]]:
    """The test database, behind a relay the test can cut, with a number and a channel."""
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    prepare(postgres_url, ("slack", stand_in.url))
    url, relay = relayed(postgres_url)
    yield url, relay
    relay.close()


def test_journal_disk_fills_up_under_a_running_server(
    postgres_url: str,
    database: tuple[str, Relay],
    small_disk: SmallDisk,
    stand_in: StandIn,
    servers: Callable[..., Server],
    tmp_path: Path,
) -> None:
    url, relay = database
    server = servers(environment(url, small_disk.path))
    kept = Calls()  # the calls that can be recorded somewhere
    small_disk.fill()

    # The database is up: the journal is not needed, every call is recorded and told.
    assert_answered_in_time(kept.burst(server, 10))
    assert_each_call_recorded_once(postgres_url, kept)
    assert_each_call_told_once(stand_in, kept)

    # The database goes too: the calls are still forwarded, in time.
    relay.cut()
    assert_answered_in_time(Calls().burst(server, 10))

    # Room again, database back: calls are recorded and told as before. (What became of the
    # calls stored nowhere is the next test's.)
    small_disk.free()
    relay.restore()
    assert_answered_in_time(kept.burst(server, 10))
    assert_each_call_recorded_once(postgres_url, kept, nothing_else=False)
    assert_each_call_told_once(stand_in, kept)


def test_calls_stored_nowhere_are_counted_then_recorded_once_there_is_room(
    postgres_url: str,
    database: tuple[str, Relay],
    small_disk: SmallDisk,
    stand_in: StandIn,
    servers: Callable[..., Server],
) -> None:
    url, relay = database
    server = servers(environment(url, small_disk.path))
    small_disk.fill()
    relay.cut()
    calls = Calls()
    assert_answered_in_time(calls.burst(server, 10))
    health = server.health()
    assert health["status"] == "degraded"
    assert health["unrecorded"] == 10
    # No call record lost, no notification lost: once there is somewhere to write them.
    small_disk.free()
    relay.restore()
    assert_each_call_recorded_once(postgres_url, calls)
    assert_each_call_told_once(stand_in, calls)


def test_serve_starts_and_answers_on_a_full_journal_disk(
    postgres_url: str,
    database: tuple[str, Relay],
    small_disk: SmallDisk,
    servers: Callable[..., Server],
) -> None:
    url, _relay = database
    small_disk.fill()
    server = servers(environment(url, small_disk.path))
    calls = Calls()
    assert_answered_in_time(calls.burst(server, 5))
    assert_each_call_recorded_once(postgres_url, calls)
