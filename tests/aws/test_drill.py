"""The drill on Lambda: the fallback function answers a drill without a record or a kick, and
the scheduled drill function drills a running service, keeps the result and fails loudly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backline.aws.drill import DrillFailed, DrillHandler
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from backline.config import Config
from tests.aws.conftest import (
    DEPLOYMENTS,
    DESTINATION,
    TWILIO_NUMBER,
    AwsStandIn,
    FakeContext,
    add_route,
    aws,
    lambda_env,
    rows,
    twilio_post,
)
from tests.processes import Server
from tests.support import AUTH_TOKEN, PUBLIC_URL, fallback_params, service_env

__all__ = ["aws"]  # the fixture, used by name below


def test_the_fallback_function_answers_a_drill_and_records_nothing(
    database_url: str, tmp_path: Path, aws: AwsStandIn
) -> None:
    add_route(database_url)
    deployment = DEPLOYMENTS[0]
    env = lambda_env(
        database_url,
        deployment.public_url,
        tmp_path,
        BACKLINE_DISPATCHER_FUNCTION="backline-Dispatcher-1AB2C3",
        **aws.env(),
    )
    handler = FallbackHandler(Runtime(env))
    params = fallback_params(TWILIO_NUMBER, call_sid="drill-20261124T000000Z-abcdefabcdef")
    result = handler(twilio_post(deployment, "/twilio/voice/fallback", params), FakeContext())
    assert result["statusCode"] == 200
    assert f"<Number>{DESTINATION}</Number>" in result["body"]
    assert rows(database_url, "SELECT count(*) FROM calls") == [(0,)]
    assert rows(database_url, "SELECT count(*) FROM events") == [(0,)]
    assert aws.invokes() == []  # nothing recorded, nothing to wake the dispatcher for


def drill_config(database_url: str, tmp_path: Path, token: str = AUTH_TOKEN) -> Config:
    return Config(
        database_url=database_url,
        twilio_auth_token=token,
        public_url=PUBLIC_URL,
        state_dir=tmp_path / "drill",
        notify_language="en",
    )


def test_the_scheduled_drill_keeps_its_result_and_fails_loudly(
    sqlite_url: str, tmp_path: Path
) -> None:
    add_route(sqlite_url)
    server = Server(
        {
            "BACKLINE_DATABASE_URL": sqlite_url,
            "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "BACKLINE_PUBLIC_URL": PUBLIC_URL,
            "BACKLINE_STATE_DIR": str(tmp_path / "state"),
            "BACKLINE_LOG_LEVEL": "WARNING",
        },
        tmp_path,
    )
    try:
        passed = DrillHandler(config=drill_config(sqlite_url, tmp_path))(
            {"url": server.base, "notify": False}, FakeContext()
        )
        assert passed["ok"] is True
        assert [item["number"] for item in passed["numbers"]] == [TWILIO_NUMBER]

        # The same drill signed with another token: every request is refused, and the
        # function fails (its alarm fires) naming the number.
        wrong = DrillHandler(config=drill_config(sqlite_url, tmp_path, token="0" * 32))
        with pytest.raises(DrillFailed, match=rf"the drill failed: \{TWILIO_NUMBER}"):
            wrong({"url": server.base, "numbers": [TWILIO_NUMBER]}, FakeContext())
    finally:
        server.stop()
    kept = rows(sqlite_url, "SELECT ok, failures FROM drills ORDER BY id")
    assert [(bool(ok), failures) for ok, failures in kept] == [
        (True, "[]"),
        (False, f'["{TWILIO_NUMBER}"]'),
    ]
    assert rows(sqlite_url, "SELECT count(*) FROM calls") == [(0,)]


def test_the_drill_function_runs_without_what_the_lambda_package_leaves_out(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The Lambda package holds no ORM, migration tool, CLI or web framework: a drill that
    imports any of them would fail there on its first run."""
    add_route(sqlite_url)
    env = service_env(sqlite_url, tmp_path / "state", BACKLINE_LOG_LEVEL="WARNING")
    server = Server(env, tmp_path)
    missing = ("sqlalchemy", "alembic", "typer", "rich", "starlette", "uvicorn", "phonenumbers")
    script = (
        "import json, sys\n"
        # Absent modules: importing one raises ImportError, as in the package.
        f"sys.modules.update(dict.fromkeys({missing!r}))\n"
        "from backline.aws.drill import handler\n"
        f"print(json.dumps(handler({{'url': {server.base!r}, 'notify': False}}, None)))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**env, "BACKLINE_STATE_DIR": str(tmp_path / "drill"), "PATH": "/usr/bin:/bin"},
            check=False,
            timeout=60,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] is True
    assert rows(sqlite_url, "SELECT ok FROM drills") == [(1,)]
