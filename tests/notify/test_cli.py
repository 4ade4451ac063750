"""`backline channels ...` and `backline worker --once`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backline.cli import app
from tests.notify.conftest import StandIn, add_client, call_record, record


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BACKLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BACKLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BACKLINE_NOTIFY_LANGUAGE", "en")
    return sqlite_url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_add_list_test_remove(env: str, stand_in: StandIn) -> None:
    add_client(env, "Acme")
    code, out = run("channels", "add", "slack", stand_in.url, "--client", "Acme", "--name", "ops")
    assert code == 0, out
    assert "added channel #1" in out
    code, out = run("channels", "test", "1")
    assert code == 0, out
    assert "answered: 200 ok" in out
    assert "[TEST]" in stand_in.texts()[0]
    code, out = run("channels", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["client"] == "Acme"
    assert listed[0]["name"] == "ops"
    assert listed[0]["last_success_at"] is not None
    assert listed[0]["last_result"] == "200 ok"
    code, out = run("channels", "remove", "1")
    assert code == 0
    assert json.loads(run("channels", "list", "--json")[1]) == []


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("slack", "hooks.slack.com/x"), "must start with https://"),
        (("sms", "09012345678"), "E.164"),
        (("email", "not-an-address"), "e-mail address"),
        (("pager", "x"), "not one of"),
        (("slack", "https://h.example/x", "--client", "Nobody"), "no client named"),
        (("slack", "https://h.example/x", "--from", "+815011112222"), "only for sms"),
    ],
)
def test_bad_channels_are_refused(env: str, args: tuple[str, ...], complaint: str) -> None:
    code, out = run("channels", "add", *args)
    assert code != 0
    assert complaint in out
    assert json.loads(run("channels", "list", "--json")[1]) == []


def test_a_webhook_gets_a_secret_and_list_hides_it(env: str) -> None:
    code, out = run("channels", "add", "webhook", "https://h.example/in")
    assert code == 0
    secret = out.split("signing secret: ")[1].split()[0]
    assert len(secret) == 64
    shown = json.loads(run("channels", "list", "--json")[1])[0]["options"]["secret"]
    assert secret not in shown


def test_a_failing_test_is_reported_and_recorded(env: str, stand_in: StandIn) -> None:
    stand_in.default = (404, {}, "no_service")
    run("channels", "add", "slack", stand_in.url)
    code, out = run("channels", "test", "1")
    assert code == 1
    assert "permanent" in out
    assert "404 no_service" in out
    assert json.loads(run("channels", "list", "--json")[1])[0]["last_failure_at"]


def test_worker_once_delivers_what_is_due(env: str, stand_in: StandIn) -> None:
    run("channels", "add", "slack", stand_in.url)
    record(env, call_record("CAonce"))
    code, out = run("worker", "--once")
    assert code == 0, out
    assert "sent=1" in out
    assert len(stand_in.accepted()) == 1
