"""Logs as an operator reads them: `serve --workers 2` logs from every worker exactly as one
worker does (time, level, logger), in text or in JSON."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from tests.processes import Server
from tests.support import AUTH_TOKEN, PUBLIC_URL, add_number, fallback_params, signed_post

TWILIO = "+815031234567"
# 2026-11-24 14:05:03.120+09:00 WARNING backline.service: ...
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<logger>[\w.]+): (?P<message>.*)$"
)


def _serve_two_workers(sqlite_url: str, tmp_path: Path, **extra: str) -> list[str]:
    add_number(sqlite_url, TWILIO, ("+81312345678",))
    env = {
        "BACKLINE_DATABASE_URL": sqlite_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
        "BACKLINE_LOG_LEVEL": "INFO",
        "BACKLINE_TIMEZONE": "Asia/Tokyo",
        **extra,
    }
    # Insecure mode: each worker warns about it at start, a WARNING the docs say to alert on.
    # (Next to a token it is asked for twice: the variable and the flag.)
    env["BACKLINE_INSECURE_DEMO"] = "1"
    server = Server(env, tmp_path, "--workers", "2", "--insecure-demo")
    try:
        path = "/twilio/voice/fallback"
        for _ in range(4):
            status, _text = server.post(path, *signed_post(path, fallback_params(TWILIO)))
            assert status == 200
        # /healthz answers as soon as one worker is up; wait (bounded) until both have said
        # they are answering, so stopping cannot cut the second one's start short.
        deadline = time.monotonic() + 30
        while server.log.read_text().count("answering from") < 2:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
    finally:
        server.stop()
    return server.log.read_text().splitlines()


def test_every_worker_logs_with_time_level_and_logger(sqlite_url: str, tmp_path: Path) -> None:
    lines = _serve_two_workers(sqlite_url, tmp_path)

    parsed = [TEXT_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
    entries = [(m["level"], m["logger"], m["message"]) for m in parsed if m]
    # backline's own INFO lines survive in both workers, not only uvicorn's
    started = [e for e in entries if e[:2] == ("INFO", "backline.service")]
    assert [message for _, _, message in started] == ["answering from database: 1 number(s)"] * 2
    # and an alert on "WARNING backline.service" matches once per worker
    warnings = [e for e in entries if e[:2] == ("WARNING", "backline.service")]
    assert len(warnings) == 2
    assert all("INSECURE DEMO MODE" in message for _, _, message in warnings)
    # uvicorn's own lines go the same way
    assert sum("Started server process" in message for _, _, message in entries) == 2
    # times carry the configured zone's offset
    assert all("+09:00 " in line for line in lines)


def test_json_logs_one_object_per_line_from_every_worker(sqlite_url: str, tmp_path: Path) -> None:
    lines = _serve_two_workers(sqlite_url, tmp_path, BACKLINE_LOG_FORMAT="json")

    entries = [json.loads(line) for line in lines]
    assert all(set(entry) >= {"time", "level", "logger", "message", "pid"} for entry in entries)
    started = [
        entry
        for entry in entries
        if (entry["level"], entry["logger"]) == ("INFO", "backline.service")
        and entry["message"].startswith("answering from")
    ]
    assert len(started) == 2
    assert len({entry["pid"] for entry in started}) == 2  # one line from each worker
    assert all(entry["time"].endswith("+09:00") for entry in entries)


def test_a_bad_log_format_stops_the_process_with_its_name(tmp_path: Path) -> None:
    from tests.support import run_backline

    env = {"PATH": "/usr/bin:/bin", "BACKLINE_LOG_FORMAT": "xml", "HOME": str(tmp_path)}
    result = run_backline("worker", "--once", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: BACKLINE_LOG_FORMAT='xml' is not one of: text, json")


def test_a_command_run_in_process_leaves_logging_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`worker` configures logging for its process; run in-process (by the tests, or a program
    embedding the CLI) it must not leave that behind: a later `db upgrade` would otherwise
    print migration INFO lines on its standard error."""
    from typer.testing import CliRunner

    from backline.cli import app
    from tests.cli import ok

    def state() -> list[tuple[str, int, list[logging.Handler], bool, bool]]:
        names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "backline", "alembic"]
        loggers = [(name, logging.getLogger(name or None)) for name in names]
        return [
            (
                name,
                lg.level,
                [h for h in lg.handlers if "_pytest" not in type(h).__module__],
                lg.propagate,
                lg.disabled,
            )
            for name, lg in loggers
        ]

    before = state()
    url = f"sqlite:///{tmp_path}/backline.db"
    ok(url, "db", "upgrade")
    monkeypatch.setenv("BACKLINE_DATABASE_URL", url)
    monkeypatch.setenv("BACKLINE_LOG_LEVEL", "DEBUG")
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert state() == before
    # What the report was about: the next in-process command's standard error stays clean.
    assert ok(f"sqlite:///{tmp_path}/other.db", "db", "upgrade").startswith("created the")
