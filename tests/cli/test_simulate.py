"""`simulate` as an operator runs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backline.cli import app
from tests.processes import Server
from tests.support import add_number, query, run_backline, service_env

TWILIO = "+815031234567"

OFFICE = ("+81312345678", "+819011112222")


def test_simulate_in_process_walks_the_call_and_records_nothing(sqlite_url: str) -> None:
    add_number(sqlite_url, TWILIO, OFFICE, mode="sequential")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--to",
            TWILIO,
            "--outcome",
            "busy",
            "--outcome",
            "no-answer",
            "--database-url",
            sqlite_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("<Dial") == 2
    assert '<Say language="ja-JP"' in result.output
    assert result.output.index(OFFICE[0]) < result.output.index(OFFICE[1])
    assert query(sqlite_url, "SELECT count(*) FROM calls") == [(0,)]


def test_simulate_a_caller_who_hangs_up_while_it_rings(sqlite_url: str) -> None:
    add_number(sqlite_url, TWILIO, OFFICE, mode="sequential")
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--to",
            "+81 50-3123-4567",
            "--outcome",
            "caller-hung-up",
            "--database-url",
            sqlite_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("<Dial") == 1  # no second leg for a caller who has gone
    assert "<Hangup" in result.output and "<Say" not in result.output


def test_simulate_against_a_running_server_is_a_real_signed_call(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_number(database_url, TWILIO, OFFICE)
    env = service_env(database_url, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(
            app, ["simulate", "--url", server.base, "--to", TWILIO, "--outcome", "completed"]
        )
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert "-> 200" in result.output and "<Hangup" in result.output
    assert query(database_url, "SELECT outcome, duration FROM calls") == [("answered", 42)]


def test_simulate_with_the_wrong_token_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    env = service_env(sqlite_url, tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        result = run_backline(
            "simulate",
            "--url",
            server.base,
            "--to",
            TWILIO,
            env={**os.environ, **env, "BACKLINE_TWILIO_AUTH_TOKEN": "f" * 32},
        )
    finally:
        server.stop()
    assert "-> 403" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--to", "0312345678"], "+81312345678"),
        (["simulate", "--to", "+999123"], "not a phone number"),
        (["simulate", "--to", TWILIO, "--outcome", "maybe"], "--outcome 'maybe'"),
        (["simulate", "--to", TWILIO, "--url", "ftp://x"], "--url"),
    ],
)
def test_simulate_refuses_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
