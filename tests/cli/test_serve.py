"""`serve` as an operator runs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.processes import Server
from tests.support import AUTH_TOKEN, PUBLIC_URL, add_number, run_backline, service_env

TWILIO = "+815031234567"

OFFICE = ("+81312345678", "+819011112222")


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
    env = service_env(sqlite_url, tmp_path / "fresh")
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

    env = service_env(f"sqlite:///{tmp_path}/empty.db", tmp_path / "state")
    server = Server(env, tmp_path)
    try:
        path = "/twilio/voice/fallback"
        status, text = server.post(path, *signed_post(path, fallback_params(TWILIO)))
        assert status == 200 and "<Say" in text
        assert server.health()["status"] == "degraded"
    finally:
        server.stop()
    assert "run `backline db upgrade`" in server.log.read_text()
