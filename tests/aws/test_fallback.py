"""The fallback Lambda handler on real-shaped events, against a real database of each kind."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from backline.aws import fallback
from backline.aws.alarms import LogEvent
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from backline.core.twiml import LAST_RESORT_TWIML
from tests.aws.conftest import (
    DEPLOYMENTS,
    DESTINATION,
    TWILIO_NUMBER,
    AwsStandIn,
    Deployment,
    FakeContext,
    RunningContext,
    add_route,
    lambda_env,
    make_event,
    rows,
    twilio_get,
    twilio_post,
    twilio_signature,
)
from tests.processes import Relay
from tests.support import dial_params, fallback_params
from tests.support import query as stored_rows

FALLBACK = "/twilio/voice/fallback"
STATUS = "/twilio/voice/dial-status"

HandlerFactory = Callable[..., FallbackHandler]


@pytest.fixture
def make_handler(tmp_path: Path) -> HandlerFactory:
    made = 0

    def build(database_url: str, public_url: str, **env: str) -> FallbackHandler:
        nonlocal made
        made += 1
        state = tmp_path / f"state-{made}"
        return FallbackHandler(Runtime(lambda_env(database_url, public_url, state, **env)))

    return build


def by_name(name: str) -> Deployment:
    return next(d for d in DEPLOYMENTS if d.name == name)


def assert_forwarded(result: dict[str, Any]) -> None:
    assert result["statusCode"] == 200, result
    assert result["headers"]["content-type"].startswith("text/xml")
    assert f"<Number>{DESTINATION}</Number>" in result["body"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_a_signed_fallback_is_forwarded_and_recorded_before_the_answer(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    handler = make_handler(database_url, deployment.public_url)
    params = fallback_params(TWILIO_NUMBER)
    result = handler(twilio_post(deployment, FALLBACK, params), FakeContext())
    assert_forwarded(result)
    # The <Dial action> points back through the same public URL: stage kept, never doubled.
    assert f'action="{deployment.public_url}{STATUS}?step=0"' in result["body"]
    recorded = rows(
        database_url,
        "SELECT outcome, answer FROM calls WHERE call_sid = :sid",
        sid=params["CallSid"],
    )
    assert recorded == [("forwarding", result["body"])]


@pytest.mark.parametrize("base64_body", [True, False], ids=["base64-body", "plain-body"])
@pytest.mark.parametrize(
    "deployment", [d for d in DEPLOYMENTS if d.kind != "rest-v1"], ids=lambda d: d.name
)
def test_v2_bodies_plain_or_base64(
    deployment: Deployment, base64_body: bool, database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    handler = make_handler(database_url, deployment.public_url)
    event = twilio_post(
        deployment, FALLBACK, fallback_params(TWILIO_NUMBER), base64_body=base64_body
    )
    assert event["isBase64Encoded"] is base64_body
    assert_forwarded(handler(event, FakeContext()))


def test_a_rest_api_body_marked_base64_is_decoded(
    database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(database_url, deployment.public_url)
    event = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER), base64_body=True)
    assert_forwarded(handler(event, FakeContext()))


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_a_forged_signature_is_refused_and_nothing_is_recorded(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    handler = make_handler(database_url, deployment.public_url)
    params = fallback_params(TWILIO_NUMBER)
    event = twilio_post(deployment, FALLBACK, params)
    forged = dict(params, To="+819099999999")  # same signature, other parameters
    event_body = urlencode(forged)
    event["body"] = event_body
    event["isBase64Encoded"] = False
    result = handler(event, FakeContext())
    assert result["statusCode"] == 403
    assert result["body"] == "invalid Twilio signature"
    assert rows(database_url, "SELECT call_sid FROM calls") == []


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_a_missing_signature_is_refused(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    handler = make_handler(database_url, deployment.public_url)
    event = make_event(
        deployment, "POST", FALLBACK, body=urlencode(fallback_params(TWILIO_NUMBER)).encode()
    )
    assert handler(event, FakeContext())["statusCode"] == 403


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_signatures_over_a_doubled_or_missing_stage_are_refused(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    handler = make_handler(database_url, deployment.public_url)
    parts = urlsplit(deployment.public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    base = parts.path
    wrong = [
        # the stage (or base path) twice
        deployment.public_url + (base or "/Prod") + FALLBACK,
        # the stage named in the event, added where the public URL has none
        deployment.public_url + "/" + deployment.stage + FALLBACK,
        # the stage (or base path) left out
        origin + FALLBACK if base else origin + "/Prod" + FALLBACK,
    ]
    for url in wrong:
        if url == deployment.public_url + FALLBACK:
            continue
        event = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER), signed_url=url)
        assert handler(event, FakeContext())["statusCode"] == 403, url


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_get_with_the_parameters_in_the_query(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    handler = make_handler(database_url, deployment.public_url)
    params = fallback_params(TWILIO_NUMBER)
    result = handler(twilio_get(deployment, FALLBACK, list(params.items())), FakeContext())
    assert_forwarded(result)
    assert rows(database_url, "SELECT call_sid FROM calls") == [(params["CallSid"],)]
    # A GET dial outcome: the action URL's own ?step=0 plus Twilio's parameters.
    outcome = dial_params(params, "completed", duration=42)
    query = [("step", "0"), *outcome.items()]
    result = handler(twilio_get(deployment, STATUS, query), FakeContext())
    assert result["statusCode"] == 200
    assert rows(database_url, "SELECT outcome, duration FROM calls") == [("answered", 42)]


def test_a_forged_get_is_refused(database_url: str, make_handler: HandlerFactory) -> None:
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(database_url, deployment.public_url)
    query = list(fallback_params(TWILIO_NUMBER).items())
    event = twilio_get(deployment, FALLBACK, query)
    event["multiValueQueryStringParameters"]["To"] = ["+819099999999"]
    event["queryStringParameters"]["To"] = "+819099999999"
    assert handler(event, FakeContext())["statusCode"] == 403


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_the_dial_outcome_moves_the_call_forward(
    deployment: Deployment, database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url, destinations=(DESTINATION, "+819033334444"))
    handler = make_handler(database_url, deployment.public_url)
    params = fallback_params(TWILIO_NUMBER)
    assert handler(twilio_post(deployment, FALLBACK, params), FakeContext())["statusCode"] == 200
    outcome = dial_params(params, "no-answer")
    result = handler(twilio_post(deployment, STATUS, outcome, query=[("step", "0")]), FakeContext())
    assert result["statusCode"] == 200
    assert "<Say" in result["body"]  # simultaneous ringing: nobody answered, the apology
    assert rows(database_url, "SELECT step, status FROM legs") == [(0, "no-answer")]
    assert rows(database_url, "SELECT outcome FROM calls") == [("no-answer",)]


def test_a_twilio_retry_gets_the_first_answer(
    database_url: str, make_handler: HandlerFactory
) -> None:
    add_route(database_url)
    deployment = by_name("http-named-stage")
    handler = make_handler(database_url, deployment.public_url)
    params = fallback_params(TWILIO_NUMBER)
    first = handler(twilio_post(deployment, FALLBACK, params), FakeContext())
    add_route(database_url, destinations=("+819055556666",))  # the table changes meanwhile
    again = handler(twilio_post(deployment, FALLBACK, params), FakeContext())
    assert again["body"] == first["body"]
    assert len(rows(database_url, "SELECT call_sid FROM calls")) == 1


def test_a_changed_table_is_seen_by_a_warm_instance(
    database_url: str, make_handler: HandlerFactory
) -> None:
    import time

    add_route(database_url)
    deployment = by_name("function-url")
    handler = make_handler(database_url, deployment.public_url)
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext())
    )
    add_route(database_url, destinations=("+819055556666",))
    time.sleep(0.3)  # BACKLINE_SNAPSHOT_REFRESH_SECONDS=0.2 in these tests
    result = handler(
        twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext()
    )
    assert "<Number>+819055556666</Number>" in result["body"]


def test_other_paths_and_methods(database_url: str, make_handler: HandlerFactory) -> None:
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(database_url, deployment.public_url)
    assert handler(make_event(deployment, "GET", "/elsewhere"), None)["statusCode"] == 404
    put = handler(make_event(deployment, "PUT", FALLBACK, body=b""), None)
    assert put["statusCode"] == 405
    assert put["headers"]["allow"] == "GET, POST"
    health = handler(make_event(deployment, "GET", "/healthz"), None)
    assert health["statusCode"] == 200
    assert '"status"' in health["body"]


def test_not_an_http_event(database_url: str, make_handler: HandlerFactory) -> None:
    handler = make_handler(database_url, by_name("rest-default-endpoint").public_url)
    assert handler({"source": "aws.events"}, None)["statusCode"] == 400
    assert handler("nonsense", None)["statusCode"] == 400


def test_without_a_token_every_call_gets_the_apology_never_a_5xx(
    database_url: str, tmp_path: Path
) -> None:
    deployment = by_name("rest-default-endpoint")
    env = lambda_env(database_url, deployment.public_url, tmp_path / "state")
    env["BACKLINE_TWILIO_AUTH_TOKEN"] = ""
    handler = FallbackHandler(Runtime(env))
    result = handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)
    assert result["statusCode"] == 200
    assert result["body"] == LAST_RESORT_TWIML
    health = handler(make_event(deployment, "GET", "/healthz"), None)
    assert health["statusCode"] == 503
    assert "BACKLINE_TWILIO_AUTH_TOKEN" in health["body"]


@pytest.fixture
def relayed_postgres(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    """The test database behind a relay the test can cut."""
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    add_route(postgres_url)
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield postgres_url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{relay.port}"), relay
    relay.close()


RELAYED = by_name("http-default-stage")


@pytest.fixture
def relayed_instance(
    relayed_postgres: tuple[str, Relay], make_handler: HandlerFactory
) -> tuple[FallbackHandler, Relay]:
    """A cold Lambda instance whose database is behind the relay."""
    url, relay = relayed_postgres
    return make_handler(url, RELAYED.public_url), relay


def test_a_cold_instance_loads_the_table_and_records_its_first_call_on_one_connection(
    relayed_instance: tuple[FallbackHandler, Relay], postgres_url: str
) -> None:
    handler, relay = relayed_instance
    call = fallback_params(TWILIO_NUMBER)
    assert_forwarded(handler(twilio_post(RELAYED, FALLBACK, call), None))
    assert relay.accepted == 1
    assert stored_rows(postgres_url, "SELECT call_sid FROM calls") == [(call["CallSid"],)]


def test_a_call_that_can_be_stored_nowhere_is_still_forwarded(
    relayed_instance: tuple[FallbackHandler, Relay],
) -> None:
    handler, relay = relayed_instance
    deployment = RELAYED
    handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)  # boot
    assert handler.runtime is not None and handler.runtime.service is not None
    # The database goes away and the journal is unusable (a full or lost /tmp): the caller is
    # still forwarded; the loss is logged, never answered with an error.
    relay.close()
    handler.runtime.service.journal.close()
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_stalled_database_does_not_hold_the_answer(
    relayed_instance: tuple[FallbackHandler, Relay],
) -> None:
    """A database that stops answering mid-statement is bounded by no driver timeout; without
    a deadline of its own the handler would wait until Lambda killed it (a 5xx for Twilio)."""
    handler, relay = relayed_instance
    deployment = RELAYED
    handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)  # boot
    relay.freeze()
    for _ in range(3):
        context = RunningContext(3000)
        assert_forwarded(
            handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), context)
        )
        assert context.in_time
    assert handler.runtime is not None and handler.runtime.service is not None
    assert handler.runtime.service.journal.pending == 3
    relay.thaw()


@pytest.mark.timeout(60)
def test_a_cold_instance_answers_in_time_when_the_database_hangs(
    relayed_postgres: tuple[str, Relay],
    make_handler: HandlerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Accepts connections, never answers, before the first event: the built-in answer
    (nothing saved yet in a new instance) within the invocation's 3 s, the call journaled, both
    marked for the alarms; once the database is back, a later event loads the table."""
    url, relay = relayed_postgres
    relay.freeze()
    deployment = by_name("function-url")
    handler = make_handler(url, deployment.public_url, BACKLINE_SNAPSHOT_REFRESH_SECONDS="0.2")
    context = RunningContext(3000)
    result = handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), context)
    assert context.in_time
    assert result["statusCode"] == 200
    assert ElementTree.fromstring(result["body"]).tag == "Response"
    assert handler.runtime is not None and handler.runtime.service is not None
    assert handler.runtime.service.journal.pending == 1
    marks = {getattr(record, "backline", None) for record in caplog.records}
    assert {LogEvent.JOURNALED.value, LogEvent.LAST_RESORT.value} <= marks
    relay.thaw()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = handler(
            twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), RunningContext(3000)
        )
        if f"<Number>{DESTINATION}</Number>" in result["body"]:
            break
        time.sleep(0.2)
    assert_forwarded(result)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_slow_secrets_do_not_hold_the_answer(
    aws: AwsStandIn, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets Manager takes 4 s: the first call gets the apology within its 3 s, marked for
    the alarm; the read goes on, and a later event of the same instance answers in full."""
    add_route(database_url)
    secret = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:backline/token-AbCdEf"
    aws.secrets[secret] = "12345678901234567890123456789012"
    aws.delay = 4.0
    deployment = by_name("rest-default-endpoint")
    env = lambda_env(database_url, deployment.public_url, tmp_path / "state")
    del env["BACKLINE_TWILIO_AUTH_TOKEN"]
    env.update(aws.env(), BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN=secret)
    handler = FallbackHandler(Runtime(env))
    context = RunningContext(3000)
    result = handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), context)
    assert context.in_time
    assert result["statusCode"] == 200
    assert result["body"] == LAST_RESORT_TWIML
    assert LogEvent.LAST_RESORT.value in {getattr(r, "backline", None) for r in caplog.records}
    time.sleep(aws.delay + 0.5)
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext())
    )


def test_a_database_outage_is_journaled_in_the_state_dir(
    relayed_postgres: tuple[str, Relay], tmp_path: Path
) -> None:
    url, relay = relayed_postgres
    deployment = by_name("rest-default-endpoint")
    state = tmp_path / "lambda-tmp"
    handler = FallbackHandler(Runtime(lambda_env(url, deployment.public_url, state)))
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)
    )
    relay.close()  # the database goes away: connections cut, new ones refused
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), None)
    )
    assert handler.runtime is not None and handler.runtime.service is not None
    assert handler.runtime.service.journal.pending == 1
    assert (state / "journal.db").exists()


def test_the_module_handler_reads_the_environment(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_route(database_url)
    deployment = by_name("http-named-stage")
    for name, value in lambda_env(database_url, deployment.public_url, tmp_path / "s").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fallback, "_handler", None)
    result = fallback.handler(
        twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext()
    )
    assert_forwarded(result)
    monkeypatch.setattr(fallback, "_handler", None)


# -- waking the dispatcher -------------------------------------------------------------------
def test_the_dispatcher_is_woken_once_per_new_record_after_it_is_durable(
    database_url: str, make_handler: HandlerFactory, aws: AwsStandIn
) -> None:
    add_route(database_url)
    deployment = by_name("rest-default-endpoint")
    seen: list[list[tuple[Any, ...]]] = []
    aws.on_invoke = lambda payload: seen.append(
        rows(database_url, "SELECT kind FROM events WHERE call_sid = :sid", sid=payload["call_sid"])
    )
    handler = make_handler(
        database_url,
        deployment.public_url,
        BACKLINE_DISPATCHER_FUNCTION="backline-Dispatcher-1AB2C3",
        **aws.env(),
    )
    params = fallback_params(TWILIO_NUMBER)
    assert_forwarded(handler(twilio_post(deployment, FALLBACK, params), FakeContext()))
    invokes = aws.invokes()
    assert len(invokes) == 1
    kick = invokes[0]
    assert kick.path == "/2015-03-31/functions/backline-Dispatcher-1AB2C3/invocations"
    assert kick.headers["x-amz-invocation-type"] == "Event"
    assert kick.signature_ok
    assert f"/{'ap-northeast-1'}/lambda/aws4_request" in kick.headers["authorization"]
    # When the dispatcher is woken, the call's event is already in the database.
    assert seen == [[("diverted",)]]
    # Twilio's retry of the same request: same answer, no second kick.
    handler(twilio_post(deployment, FALLBACK, params), FakeContext())
    assert len(aws.invokes()) == 1
    # The dial outcome is a new record: one more kick.
    handler(
        twilio_post(
            deployment, STATUS, dial_params(params, "completed", 30), query=[("step", "0")]
        ),
        FakeContext(),
    )
    assert len(aws.invokes()) == 2


def test_a_slow_or_failing_invoke_does_not_hold_the_answer(
    database_url: str, make_handler: HandlerFactory, aws: AwsStandIn
) -> None:
    import time

    add_route(database_url)
    deployment = by_name("function-url")
    handler = make_handler(
        database_url,
        deployment.public_url,
        BACKLINE_DISPATCHER_FUNCTION="backline-dispatcher",
        **aws.env(),
    )
    aws.delay = 3.0
    started = time.monotonic()
    result = handler(
        twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)),
        FakeContext(remaining_ms=1200),
    )
    assert_forwarded(result)
    assert time.monotonic() - started < 2.0  # the kick's budget is what the context has left
    aws.delay = 0.0
    aws.invoke_status = 500
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext())
    )


def test_an_unreachable_lambda_api_does_not_hold_the_answer(
    database_url: str, make_handler: HandlerFactory
) -> None:
    import socket
    import time

    add_route(database_url)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    deployment = by_name("http-default-stage")
    handler = make_handler(
        database_url,
        deployment.public_url,
        BACKLINE_DISPATCHER_FUNCTION="backline-dispatcher",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_REGION="ap-northeast-1",
        AWS_ENDPOINT_URL_LAMBDA=f"http://127.0.0.1:{port}",
    )
    started = time.monotonic()
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext())
    )
    assert time.monotonic() - started < 2.0


def test_signing_matches_the_twilio_library(
    make_handler: HandlerFactory, database_url: str
) -> None:
    """The fixture's signing is Twilio's: a request signed by hand the same way verifies."""
    deployment = by_name("rest-default-endpoint")
    params = fallback_params(TWILIO_NUMBER)
    url = deployment.public_url + FALLBACK
    expected = twilio_signature(url, params)
    event = twilio_post(deployment, FALLBACK, params)
    assert event["headers"]["X-Twilio-Signature"] == expected


def test_no_in_process_dispatcher_on_lambda(
    database_url: str, make_handler: HandlerFactory
) -> None:
    """Notifications go through the dispatcher function: nothing would run while frozen."""
    deployment = by_name("function-url")
    handler = make_handler(database_url, deployment.public_url, BACKLINE_NOTIFY_IN_SERVE="1")
    handler(make_event(deployment, "GET", "/healthz"), None)
    assert handler.runtime is not None and handler.runtime.service is not None
    assert handler.runtime.service.config.notify_in_serve is False
    assert getattr(handler.runtime.service, "dispatcher", None) is None


def test_the_cold_path_imports_nothing_it_does_not_need(database_url: str, tmp_path: Path) -> None:
    """A fresh process answering one event loads no ORM, migration tool, ASGI app or SDK."""
    import json
    import subprocess
    import sys

    add_route(database_url)
    deployment = by_name("rest-default-endpoint")
    event = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER))
    (tmp_path / "event.json").write_text(json.dumps(event))
    script = (
        "import json, sys\n"
        "from backline.aws.fallback import handler\n"
        f"result = handler(json.load(open({str(tmp_path / 'event.json')!r})), None)\n"
        "heavy = ('sqlalchemy', 'alembic', 'mangum', 'starlette.applications', 'starlette.routing',"
        " 'uvicorn', 'typer', 'rich', 'boto3', 'botocore', 'backline.notify', 'backline.web.app',"
        " 'phonenumbers', 'backline.manage', 'backline.web.api', 'backline.web.admin', 'jinja2',"
        " 'argon2')\n"
        "print(json.dumps({'status': result['statusCode'],"
        " 'loaded': sorted(m for m in sys.modules if m.startswith(heavy))}))\n"
    )
    env = lambda_env(database_url, deployment.public_url, tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 200, "loaded": []}


def test_a_bad_database_url_is_reported_without_its_password(tmp_path: Path) -> None:
    deployment = by_name("function-url")
    env = lambda_env("mysql://backline:s3cret@db:3306/x", deployment.public_url, tmp_path / "s")
    handler = FallbackHandler(Runtime(env))
    assert handler(make_event(deployment, "GET", "/healthz"), None)["statusCode"] == 503
    assert handler.runtime is not None and handler.runtime.boot_error is not None
    assert "s3cret" not in handler.runtime.boot_error
    assert "mysql://backline:***@db" in handler.runtime.boot_error


def test_hostile_events_are_refused_cheaply_and_counted(
    sqlite_url: str, make_handler: HandlerFactory
) -> None:
    add_route(sqlite_url)
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(sqlite_url, deployment.public_url)
    huge = make_event(deployment, "POST", FALLBACK, body=b"a=" + b"x" * (64 * 1024))
    assert handler(huge, FakeContext())["statusCode"] == 413
    unsigned = make_event(deployment, "POST", FALLBACK, body=b"CallSid=CAx&To=%2B1")
    assert handler(unsigned, FakeContext())["statusCode"] == 403
    wrong = twilio_post(
        deployment, FALLBACK, fallback_params(TWILIO_NUMBER), signed_url="https://x"
    )
    assert handler(wrong, FakeContext())["statusCode"] == 403
    assert_forwarded(
        handler(twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext())
    )
    health = handler(make_event(deployment, "GET", "/healthz"), FakeContext())
    body = json.loads(health["body"])
    assert body["too_large"] == 1
    assert body["signatures"]["refused"] == 2 and body["signatures"]["recent_checked"] == 3
    assert rows(sqlite_url, "SELECT count(*) FROM calls") == [(1,)]


def test_insecure_mode_never_starts_on_lambda_next_to_a_token(
    sqlite_url: str, make_handler: HandlerFactory
) -> None:
    add_route(sqlite_url)
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(sqlite_url, deployment.public_url, BACKLINE_INSECURE_DEMO="1")
    unsigned = make_event(deployment, "POST", FALLBACK, body=b"CallSid=CAx&To=%2B815031234567")
    result = handler(unsigned, FakeContext())
    # No service: the built-in apology, never a forwarded (or recorded) unsigned call.
    assert result["statusCode"] == 200 and "<Dial" not in result["body"]
    assert rows(sqlite_url, "SELECT count(*) FROM calls") == [(0,)]
    assert handler.runtime is not None
    assert "looks like production" in (handler.runtime.boot_error or "")


def test_every_answer_of_an_insecure_lambda_says_so(
    sqlite_url: str, make_handler: HandlerFactory
) -> None:
    add_route(sqlite_url)
    deployment = by_name("rest-default-endpoint")
    handler = make_handler(
        sqlite_url, deployment.public_url, BACKLINE_INSECURE_DEMO="1", BACKLINE_TWILIO_AUTH_TOKEN=""
    )
    unsigned = make_event(deployment, "POST", FALLBACK, body=b"CallSid=CAx&To=%2B815031234567")
    result = handler(unsigned, FakeContext())
    assert_forwarded(result)
    assert result["headers"]["x-backline-insecure-demo"] == "signatures are not checked"
