"""`serve`, `simulate` and `demo` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backline.cli import app
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.processes import Server
from tests.web.conftest import add_number, query

TWILIO = "+815031234567"


def run_backline(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`backline ...` in a child process, as typed in a shell."""
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


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
    env = {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
    }
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
    env = {
        "BACKLINE_DATABASE_URL": sqlite_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
    }
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


def test_serve_refuses_to_start_without_a_way_to_check_signatures(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BACKLINE_") and k != "TWILIO_AUTH_TOKEN"
    }
    result = run_backline("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "BACKLINE_TWILIO_AUTH_TOKEN" in result.stderr
    assert "BACKLINE_PUBLIC_URL" in result.stderr
    assert "--insecure-demo" in result.stderr


@pytest.mark.parametrize(
    ("public_url", "words"),
    [
        (PUBLIC_URL + "/twilio/voice/fallback", f"here {PUBLIC_URL} "),
        (PUBLIC_URL + "/twilio", f"here {PUBLIC_URL} "),
        (PUBLIC_URL + "#rt=3000", "#fragment"),
        (PUBLIC_URL + "?key=1", "?query"),
    ],
)
def test_serve_refuses_a_public_url_that_cannot_be_signed_over(
    tmp_path: Path, public_url: str, words: str
) -> None:
    env = {
        **os.environ,
        "BACKLINE_PUBLIC_URL": public_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
    }
    result = run_backline("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "BACKLINE_PUBLIC_URL" in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_process_with_its_name(tmp_path: Path) -> None:
    env = {**os.environ, "BACKLINE_DB_TIMEOUT_SECONDS": "soon"}
    result = run_backline("calls", "list", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "BACKLINE_DB_TIMEOUT_SECONDS" in result.stderr


def test_several_workers_start_together_on_a_fresh_state_directory(
    sqlite_url: str, tmp_path: Path
) -> None:
    add_number(sqlite_url, TWILIO, OFFICE)
    env = {
        "BACKLINE_DATABASE_URL": sqlite_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "fresh"),
    }
    server = Server(env, tmp_path, "--workers", "3")
    try:
        for _ in range(6):
            assert server.health()["snapshot"]["numbers"] == 1
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    assert "died" not in log, log


def test_serve_before_db_upgrade_still_answers_and_says_what_to_do(tmp_path: Path) -> None:
    from tests.support import fallback_params, signed_post

    env = {
        "BACKLINE_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db",
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
    }
    server = Server(env, tmp_path)
    try:
        path = "/twilio/voice/fallback"
        status, text = server.post(path, *signed_post(path, fallback_params(TWILIO)))
        assert status == 200 and "<Say" in text
        assert server.health()["status"] == "degraded"
    finally:
        server.stop()
    assert "run `backline db upgrade`" in server.log.read_text()


def test_make_demo_runs_on_the_port_given(tmp_path: Path) -> None:
    """`make demo PORT=...`, as the README says: the demo answers on that port."""
    import shutil
    import signal
    import urllib.request

    from tests.processes import free_port

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    # -o: this virtual environment is the one to use, whatever its stamp's age.
    venv = Path(sys.prefix)
    process = subprocess.Popen(
        [make, "-s", "-C", str(root), f"VENV={venv}", "-o", f"{venv}/.installed", "demo",
         f"PORT={port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for raw in process.stdout:
            lines.append(raw.decode())
            if "Uvicorn running on" in lines[-1]:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/twilio/voice/fallback" in output, output
        assert f"state directory: {tmp_path}/xdg/backline" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
