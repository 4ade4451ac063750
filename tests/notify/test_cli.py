"""`backline channels ...` and `backline worker --once`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backline.cli import app
from tests.standins import StandIn
from tests.support import add_client, call_record, record


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


def test_worker_once_counts_what_this_run_did(
    env: str, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call told on its own, at once: no outage grouping in this test.
    monkeypatch.setenv("BACKLINE_NOTIFY_QUIET_SECONDS", "0")
    monkeypatch.setenv("BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS", "0")
    run("channels", "add", "slack", stand_in.url)
    record(env, call_record("CAonce"))
    code, out = run("worker", "--once")
    assert code == 0, out
    assert out.splitlines()[-1] == (
        "sent=1 notifications=1 retrying=0 given_up=0 stopped=0 pending=0 unfanned=0"
    )
    assert len(stand_in.accepted()) == 1

    # Nothing new: this run sent nothing, whatever earlier runs did.
    code, out = run("worker", "--once")
    assert out.splitlines()[-1] == (
        "sent=0 notifications=0 retrying=0 given_up=0 stopped=0 pending=0 unfanned=0"
    )

    # The receiver is down: the run says it will try again, and what still waits.
    stand_in.default = (503, {}, "busy")
    record(env, call_record("CAtwice", to="+81399999999"))
    code, out = run("worker", "--once")
    assert out.splitlines()[-1] == (
        "sent=0 notifications=0 retrying=1 given_up=0 stopped=0 pending=1 unfanned=0"
    )


def test_worker_once_without_tables_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKLINE_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: could not deliver from {tmp_path}/empty.db: ")
    assert "Traceback" not in result.output


def test_a_slack_retry_is_one_warning_and_never_an_error_or_the_secret(
    sqlite_url: str, tmp_path: Path
) -> None:
    """An ordinary retry must not trip an ERROR alert (Slack's SDK, once used here, logged
    every failed POST at ERROR), nor put the webhook's secret path in the log."""
    from tests.processes import free_port
    from tests.support import run_backline

    secret_path = "/services/T0000/B0000/s3cr3tpath"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BACKLINE_DATABASE_URL": sqlite_url,
        "BACKLINE_LOG_LEVEL": "DEBUG",
        "BACKLINE_ALLOW_PRIVATE_CHANNELS": "1",  # the receiver is on 127.0.0.1
    }
    # Nothing listens there: the connection is refused, which the SDK logs at ERROR itself.
    add = run_backline(
        "channels", "add", "slack", f"http://127.0.0.1:{free_port()}{secret_path}", env=env
    )
    assert add.returncode == 0, add.stderr
    record(sqlite_url, call_record("CAretry"))

    result = run_backline("worker", "--once", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[2] == "retrying=1"
    lines = result.stderr.splitlines()
    assert [line for line in lines if " ERROR " in line or " CRITICAL " in line] == []
    failed = [line for line in lines if " WARNING backline.notify: " in line]
    assert len(failed) == 1
    assert "delivery failed (no answer from the receiver: " in failed[0]
    assert "s3cr3tpath" not in result.stderr


def test_the_same_receiver_cannot_be_added_twice_for_the_same_calls(env: str) -> None:
    add_client(env, "Acme")
    add_client(env, "Beta")
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    assert run("channels", "add", "slack", url)[0] == 0

    for extra in ([], ["--client", "Acme"]):
        code, out = run("channels", "add", "slack", url, *extra)
        assert code == 2
        assert out == (
            "error: channel #1 slack hooks.slack.com already sends there for every call: "
            "a second channel would deliver every message twice\n"
        )
    assert run("channels", "add", "email", "OnCall@example.com", "--client", "Acme")[0] == 0
    code, out = run("channels", "add", "email", "oncall@example.com", "--client", "acme")
    assert "channel #2 email OnCall@example.com (Acme) already sends there" in out
    # Two clients may share one receiver: each call belongs to one of them.
    assert run("channels", "add", "email", "oncall@example.com", "--client", "Beta")[0] == 0
    listed = json.loads(run("channels", "list", "--json")[1])
    assert [(c["kind"], c["client"]) for c in listed] == [
        ("slack", None),
        ("email", "Acme"),
        ("email", "Beta"),
    ]


@pytest.mark.parametrize(
    ("args", "settings", "warning"),
    [
        (
            ("sms", "+819012345678"),
            {},
            "warning: SMS needs BACKLINE_TWILIO_ACCOUNT_SID, BACKLINE_TWILIO_AUTH_TOKEN, "
            "BACKLINE_SMS_FROM (or the channel's --from), which this environment does not set",
        ),
        (
            ("sms", "+819012345678"),
            {"BACKLINE_TWILIO_ACCOUNT_SID": "AC1", "BACKLINE_TWILIO_AUTH_TOKEN": "t"},
            "warning: SMS needs BACKLINE_SMS_FROM (or the channel's --from), which",
        ),
        (
            ("email", "oncall@example.com"),
            {"BACKLINE_SMTP_USER": "robot@example.com"},
            "warning: e-mail needs BACKLINE_SMTP_HOST, which this environment does not set",
        ),
    ],
)
def test_a_channel_missing_its_settings_is_said_at_once(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    settings: dict[str, str],
    warning: str,
) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)

    added = CliRunner().invoke(app, ["channels", "add", *args])
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("added channel #1")
    assert added.stderr.startswith(warning)

    # `channels test` says the same, sends nothing and records nothing against the channel.
    tested = CliRunner().invoke(app, ["channels", "test", "1"])
    assert tested.exit_code == 2
    assert tested.stderr.startswith(f"error: cannot test channel #1 here: {warning[9:40]}")
    listed = json.loads(run("channels", "list", "--json")[1])[0]
    assert (listed["last_failure_at"], listed["status"]) == (None, "ok")


def test_a_complete_sms_channel_gets_no_warning(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLINE_TWILIO_ACCOUNT_SID", "AC1")
    monkeypatch.setenv("BACKLINE_TWILIO_AUTH_TOKEN", "t")
    added = CliRunner().invoke(
        app, ["channels", "add", "sms", "+819012345678", "--from", "+815011112222"]
    )
    assert added.exit_code == 0
    assert added.stderr == ""


def test_list_says_when_the_last_delivery_failed(
    env: str, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKLINE_TIMEZONE", "UTC")
    run("channels", "add", "slack", stand_in.url)
    assert run("channels", "test", "#1")[0] == 0
    assert "    ok; last success 20" in run("channels", "list")[1]

    stand_in.default = (503, {}, "busy")
    assert run("channels", "test", "1")[0] == 1

    out = run("channels", "list")[1].splitlines()
    assert out[1].startswith("    LAST DELIVERY FAILED (tried again later); last success 20")
    assert " UTC; last failure 20" in out[1]
    assert out[2] == "    last answer: 503 busy"
    assert json.loads(run("channels", "list", "--json")[1])[0]["status"] == "failed"

    stand_in.default = (200, {}, "ok")
    assert run("channels", "test", "1")[0] == 0
    assert json.loads(run("channels", "list", "--json")[1])[0]["status"] == "ok"


@pytest.mark.parametrize("typed", ["abc", "1.5", "0", "#", "１"])
def test_a_channel_number_that_is_not_one_gets_a_plain_message(env: str, typed: str) -> None:
    for command in ("test", "remove"):
        result = CliRunner().invoke(app, ["channels", command, typed])
        assert result.exit_code == 2
        assert result.stderr == (
            f"error: {typed!r} is not a channel number: give the number "
            "`backline channels list` shows\n"
        )
