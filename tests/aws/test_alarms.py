"""The template's metric filters count the log lines backline really writes.

Each alarm event is brought about for real (a missing token, a database cut away, a forged
signature, a dispatcher run that fails); each record is rendered as Lambda's JSON log format
renders it, and the template's filter patterns are evaluated on that. A reworded message or a
renamed event makes these fail, not the alarm go quiet in production.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from backline.aws.dispatcher import DispatcherFailed, DispatcherHandler
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from backline.config import Config
from tests.aws.conftest import (
    DEPLOYMENTS,
    TWILIO_NUMBER,
    add_route,
    lambda_env,
    twilio_post,
)
from tests.aws.test_template import TEMPLATE
from tests.processes import Relay
from tests.support import fallback_params

FALLBACK = "/twilio/voice/fallback"
DEPLOYMENT = next(d for d in DEPLOYMENTS if d.kind == "http-v2")

# The attributes of a LogRecord that Lambda's Python runtime does not copy into the JSON
# object (awslambdaric's JsonFormatter); every other attribute becomes a field of its own.
_NOT_COPIED = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
    "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
    "relativeCreated", "thread", "threadName", "processName", "process", "aws_request_id",
    "tenant_id", "_frame_type",
}  # fmt: skip


def as_lambda_logs_it(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON object Lambda writes for a record when the log format is JSON."""
    level = min(50, max(0, record.levelno)) // 10 * 10
    fields: dict[str, Any] = {
        "level": logging.getLevelName(level),
        "message": record.getMessage(),
        "logger": record.name,
    }
    fields.update(
        (key, value)
        for key, value in record.__dict__.items()
        if key not in _NOT_COPIED and key not in fields
    )
    return fields


_TERM = re.compile(r'\$\.([A-Za-z_]+) = "([^"*]*)"')


def matches(pattern: str, event: dict[str, Any]) -> bool:
    """CloudWatch Logs' JSON filter pattern, for the forms the template uses: terms
    `$.field = "value"` joined by ||. Any other form fails the test instead of guessing."""
    body = pattern.strip()
    assert body.startswith("{") and body.endswith("}"), pattern
    terms = [term.strip() for term in body[1:-1].split("||")]
    parsed = [_TERM.fullmatch(term) for term in terms]
    assert all(parsed), f"a filter form this test does not know: {pattern}"
    return any(event.get(m.group(1)) == m.group(2) for m in parsed if m)


@pytest.fixture(scope="module")
def filters() -> dict[str, str]:
    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(TEMPLATE))
    return {
        resource["Properties"]["MetricTransformations"][0]["MetricName"]: resource["Properties"][
            "FilterPattern"
        ]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Logs::MetricFilter"
    }


def counted(filters: dict[str, str], metric: str, records: list[logging.LogRecord]) -> int:
    return sum(matches(filters[metric], as_lambda_logs_it(record)) for record in records)


def call(handler: FallbackHandler) -> dict[str, Any]:
    return handler(twilio_post(DEPLOYMENT, FALLBACK, fallback_params(TWILIO_NUMBER)), None)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_an_ordinary_call_counts_for_no_alarm(
    filters: dict[str, str], database_url: str, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    add_route(database_url)
    handler = FallbackHandler(Runtime(lambda_env(database_url, DEPLOYMENT.public_url, tmp_path)))
    assert call(handler)["statusCode"] == 200
    for metric in filters:
        if metric != "DispatcherFailures":  # the dispatcher's own log group
            assert counted(filters, metric, logs.records) == 0, metric


def test_calls_answered_from_the_last_resort_are_counted(
    filters: dict[str, str], database_url: str, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    env = lambda_env(database_url, DEPLOYMENT.public_url, tmp_path)
    del env["BACKLINE_TWILIO_AUTH_TOKEN"]  # the secret could not be had
    handler = FallbackHandler(Runtime(env))
    for _ in range(2):
        assert call(handler)["statusCode"] == 200
    assert counted(filters, "LastResortAnswers", logs.records) == 2


@pytest.fixture
def relayed(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    add_route(postgres_url)
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield postgres_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{relay.port}"), relay
    relay.close()


def test_records_journaled_instead_of_stored_are_counted(
    filters: dict[str, str],
    relayed: tuple[str, Relay],
    tmp_path: Path,
    logs: pytest.LogCaptureFixture,
) -> None:
    url, relay = relayed
    handler = FallbackHandler(Runtime(lambda_env(url, DEPLOYMENT.public_url, tmp_path)))
    call(handler)
    assert counted(filters, "JournaledRecords", logs.records) == 0
    relay.cut()
    for _ in range(3):
        assert call(handler)["statusCode"] == 200
    assert counted(filters, "JournaledRecords", logs.records) == 3


def test_refused_signatures_are_counted(
    filters: dict[str, str], database_url: str, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    handler = FallbackHandler(Runtime(lambda_env(database_url, DEPLOYMENT.public_url, tmp_path)))
    event = twilio_post(DEPLOYMENT, FALLBACK, fallback_params(TWILIO_NUMBER))
    event["headers"]["x-twilio-signature"] = "bm90IGEgc2lnbmF0dXJl"
    assert handler(event, None)["statusCode"] == 403
    assert counted(filters, "RefusedSignatures", logs.records) == 1
    refused = next(r for r in logs.records if getattr(r, "backline", None) == "signature-refused")
    assert DEPLOYMENT.public_url + FALLBACK in refused.getMessage()


def test_failed_dispatcher_runs_are_counted(
    filters: dict[str, str], tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    config = Config(database_url="postgresql+psycopg2://postgres@127.0.0.1:9/x", state_dir=tmp_path)
    with pytest.raises(DispatcherFailed):
        DispatcherHandler(config=config)({"source": "aws.events"}, None)
    assert counted(filters, "DispatcherFailures", logs.records) >= 1
