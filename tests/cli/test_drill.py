"""`backline drill` against a running `backline serve`, as a daily job runs it: a pass that
leaves no trace, a number the service answers wrongly, a refused signature, a dead channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from backline.cli import app
from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from tests.processes import Server, relayed
from tests.standins import Received, StandIn
from tests.support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    add_number,
    fallback_params,
    query,
    signed_post,
    wait_for,
)

SEQUENTIAL = "+815031234567"
SIMULTANEOUS = "+815031234568"
DISABLED = "+815031234569"
FIRST = "+81312345678"
SECOND = "+819011112222"
FALLBACK = "/twilio/voice/fallback"


def environment(database_url: str, state: Path, token: str = AUTH_TOKEN) -> dict[str, str]:
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": token,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state),
        "BACKLINE_NOTIFY_LANGUAGE": "en",
        "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS": "0",
        "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS": "5",
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.5",
        "BACKLINE_LOG_LEVEL": "WARNING",
        # The default quiet period (10 minutes): a call told after the drill is told as the
        # first of an outage only if the drill had started one.
    }


def drill(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["drill", *args], env=env)


def kind_of(item: Received) -> str:
    """The message kind, from the context line of the Slack blocks."""
    return str(item.json()["blocks"][-1]["elements"][0]["text"]).removeprefix("backline · ")


def count(database_url: str, table: str) -> int:
    return int(query(database_url, f"SELECT count(*) FROM {table}")[0][0])


@pytest.fixture
def table(database_url: str, stand_in: StandIn) -> str:
    add_number(database_url, SEQUENTIAL, (FIRST, SECOND), mode="sequential", ring_timeout=25)
    add_number(
        database_url,
        SIMULTANEOUS,
        (FIRST, SECOND),
        caller_id="caller",
        message="Sorry, nobody can take your call.",
        language="en-US",
        voice="Polly.Joanna",
    )
    add_number(database_url, DISABLED, (FIRST,), enabled=False)
    engine = make_engine(database_url)
    add_channel(engine, "slack", stand_in.url, label="ops", allow_private=True)
    engine.dispose()
    return database_url


def test_a_drill_passes_tells_each_channel_and_leaves_no_trace(
    table: str, stand_in: StandIn, tmp_path: Path
) -> None:
    env = environment(table, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        result = drill(env, "--url", server.base)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert result.stderr == ""
        for number in (SEQUENTIAL, SIMULTANEOUS, DISABLED):
            assert number in result.stdout
        assert f"dials {FIRST}, then {SECOND}" in result.stdout
        assert "drill passed: 3 number(s), 1 channel(s)" in result.stdout

        # The channel's reachability check is one message, a drill's, never an outage's.
        assert [kind_of(item) for item in stand_in.accepted()] == ["drill"]
        assert stand_in.texts()[0].startswith(
            "[DRILL] backline drill: all 3 number(s) answer as configured"
        )
        wait_for(lambda: server.health()["drill"] is not None, what="/healthz showing the drill")
        health = server.health()
        assert health["status"] == "ok"
        assert health["drill"]["ok"] is True
        assert health["drill"]["numbers"] == 3
        assert health["drill"]["failures"] == []

        # No trace: no call, leg, event or delivery, and no outage begun. A real call after
        # the drill is told on its own, as the first call after a quiet spell.
        for name in ("calls", "legs", "events", "deliveries"):
            assert count(table, name) == 0, name
        params = fallback_params(SIMULTANEOUS, from_="+819000000001")
        status, answer = server.post(FALLBACK, *signed_post(FALLBACK, params))
        assert status == 200 and "<Dial" in answer
        wait_for(lambda: len(stand_in.accepted()) == 2, what="the real call's message")
        assert kind_of(stand_in.accepted()[1]) == "call"
        assert count(table, "calls") == 1
    finally:
        server.stop()
    # The channel's result is kept where `channels list` shows it.
    assert query(table, "SELECT last_result FROM channels")[0][0].startswith("200")


def test_without_notify_no_channel_hears_anything(
    table: str, stand_in: StandIn, tmp_path: Path
) -> None:
    env = environment(table, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        result = drill(env, "--url", server.base, "--no-notify", "--number", SEQUENTIAL, "--json")
    finally:
        server.stop()
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [item["number"] for item in report["numbers"]] == [SEQUENTIAL]
    # The fallback request, then one no-answer for each of the two destinations.
    assert report["numbers"][0]["requests"] == 3
    assert report["notified"] is False and report["channels"] == []
    assert stand_in.received == []


@pytest.mark.postgres_only
def test_a_drill_names_the_number_a_stale_service_answers_wrongly(
    postgres_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    """The service loses its database and answers from the table as it last saw it; the
    table changes meanwhile. The drill, reading the table itself, names that number."""
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    add_number(postgres_url, SEQUENTIAL, (FIRST,))
    add_number(postgres_url, SIMULTANEOUS, (FIRST,))
    engine = make_engine(postgres_url)
    add_channel(engine, "slack", stand_in.url, label="ops", allow_private=True)
    engine.dispose()
    through_relay, relay = relayed(postgres_url)
    server = Server(environment(through_relay, tmp_path / "state"), tmp_path)
    env = environment(postgres_url, tmp_path / "drill")
    try:
        relay.cut()
        add_number(postgres_url, SIMULTANEOUS, (SECOND,))

        result = drill(env, "--url", server.base)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert result.stderr.splitlines() == [f"error: the drill failed: {SIMULTANEOUS}"]
        assert f"dials {FIRST} instead of {SECOND}" in result.stdout
        assert [kind_of(item) for item in stand_in.accepted()] == ["drill"]
        assert stand_in.texts()[0].startswith("[DRILL] backline drill: 1 of 2 number(s) FAIL")
        assert f"{SIMULTANEOUS}: dials {FIRST} instead of {SECOND}" in stand_in.texts()[0]

        # Back on its database, the service shows the failed drill, then answers right.
        relay.restore()
        wait_for(lambda: server.health()["drill"] is not None, what="/healthz showing the drill")
        health = server.health()
        assert health["drill"]["failures"] == [SIMULTANEOUS]
        assert health["status"] == "degraded"
        again = drill(env, "--url", server.base, "--no-notify")
        assert again.exit_code == 0, (again.stdout, again.stderr)
        wait_for(lambda: server.health()["drill"]["ok"], what="/healthz showing the new drill")
        assert server.health()["status"] == "ok"
    finally:
        server.stop()
        relay.close()
    for name in ("calls", "legs", "events", "deliveries"):
        assert count(postgres_url, name) == 0, name


def test_a_refused_signature_and_a_dead_channel_are_named(
    sqlite_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    add_number(sqlite_url, SEQUENTIAL, (FIRST,))
    engine = make_engine(sqlite_url)
    add_channel(engine, "slack", stand_in.url, label="ops", allow_private=True)
    engine.dispose()
    stand_in.default = (404, {}, "no_service")
    server = Server(environment(sqlite_url, tmp_path / "state", token="0" * 32), tmp_path)
    try:
        result = drill(environment(sqlite_url, tmp_path / "drill"), "--url", server.base, "--json")
    finally:
        server.stop()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'error: the drill failed: {SEQUENTIAL}, #1 slack "ops"',
    ]
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["failures"] == [SEQUENTIAL, "channel #1"]
    assert report["numbers"][0]["problems"][0].startswith("refused with 403")
    assert report["channels"][0]["detail"] == "permanent: 404 no_service"
    last = query(sqlite_url, "SELECT last_result, last_failure_at FROM channels")[0]
    assert last[0] == "permanent: 404 no_service" and last[1] is not None


def test_a_drill_that_cannot_start_says_why_and_changes_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = environment(sqlite_url, tmp_path / "state")
    nothing = drill(env, "--url", "http://127.0.0.1:9")
    assert nothing.exit_code == 2
    assert nothing.stderr.splitlines() == [
        "error: the table has no numbers to drill: add one with `backline numbers add`, "
        "or name one with --number"
    ]
    assert drill(env, "--url", "ftp://x").exit_code == 2
    assert drill(env, "--number", "12").stderr.startswith("error: --number")
    unsigned = drill({**env, "BACKLINE_TWILIO_AUTH_TOKEN": ""}, "--number", SEQUENTIAL)
    assert unsigned.exit_code == 2
    assert "BACKLINE_TWILIO_AUTH_TOKEN" in unsigned.stderr
    assert count(sqlite_url, "drills") == 0
