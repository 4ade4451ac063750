"""The Lambda handler answers as Twilio really calls: a final slash on the path, a hang-up,
the fallback requested again, and an auth token rotated in its secret while instances are warm."""

from __future__ import annotations

from pathlib import Path

import pytest

from backline.aws import runtime
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from tests.aws.conftest import (
    DEPLOYMENTS,
    DESTINATION,
    TWILIO_NUMBER,
    AwsStandIn,
    Deployment,
    FakeContext,
    add_route,
    lambda_env,
    rows,
    twilio_post,
)
from tests.support import AUTH_TOKEN, dial_params, fallback_params

FALLBACK = "/twilio/voice/fallback"
STATUS = "/twilio/voice/dial-status"
SECRET = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:backline/token-AbCdEf"
NEW_TOKEN = "fedcba9876543210fedcba9876543210"


def by_name(name: str) -> Deployment:
    return next(d for d in DEPLOYMENTS if d.name == name)


@pytest.mark.parametrize(
    "deployment",
    [by_name("rest-default-endpoint"), by_name("http-named-stage"), by_name("function-url")],
    ids=lambda d: d.name,
)
def test_a_final_slash_gets_the_same_answer(
    deployment: Deployment, database_url: str, tmp_path: Path
) -> None:
    add_route(database_url)
    handler = FallbackHandler(Runtime(lambda_env(database_url, deployment.public_url, tmp_path)))
    call = fallback_params(TWILIO_NUMBER)
    result = handler(twilio_post(deployment, FALLBACK + "/", call), FakeContext())
    assert result["statusCode"] == 200 and f"<Number>{DESTINATION}</Number>" in result["body"]
    leg = dial_params(call, "busy")
    result = handler(
        twilio_post(deployment, STATUS + "/", leg, query=[("step", "0")]), FakeContext()
    )
    assert result["statusCode"] == 200 and "<Say" in result["body"]


def test_a_hang_up_and_a_second_fallback_on_lambda(database_url: str, tmp_path: Path) -> None:
    add_route(database_url, destinations=(DESTINATION, "+81312345678", "+81662345678"))
    deployment = by_name("rest-default-endpoint")
    handler = FallbackHandler(Runtime(lambda_env(database_url, deployment.public_url, tmp_path)))
    call = fallback_params(TWILIO_NUMBER)
    # A simultaneous route: one <Dial> of three numbers; its dial-outcome URL fails.
    assert handler(twilio_post(deployment, FALLBACK, call), FakeContext())["statusCode"] == 200
    again = dict(
        call,
        CallStatus="in-progress",
        ErrorUrl=f"{deployment.public_url}{STATUS}?step=0",
        DialCallStatus="no-answer",
    )
    result = handler(twilio_post(deployment, FALLBACK, again), FakeContext())
    assert "<Dial" not in result["body"] and "<Say" in result["body"]
    sid = call["CallSid"]
    assert rows(database_url, "SELECT outcome FROM calls WHERE call_sid = :s", s=sid) == [
        ("no-answer",)
    ]
    # Another call whose caller hangs up while it rings.
    other = fallback_params(TWILIO_NUMBER)
    handler(twilio_post(deployment, FALLBACK, other), FakeContext())
    gone = dict(dial_params(other, "no-answer"), CallStatus="completed")
    result = handler(twilio_post(deployment, STATUS, gone, query=[("step", "0")]), FakeContext())
    assert "<Hangup" in result["body"] and "<Say" not in result["body"]
    assert rows(
        database_url, "SELECT outcome FROM calls WHERE call_sid = :s", s=other["CallSid"]
    ) == [("caller-hung-up",)]


def secret_reads(aws: AwsStandIn) -> int:
    return sum(
        1 for r in aws.received if r.headers.get("x-amz-target") == "secretsmanager.GetSecretValue"
    )


def test_a_token_rotated_in_its_secret_is_used_without_a_redeploy(
    database_url: str, tmp_path: Path, aws: AwsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_route(database_url)
    deployment = by_name("rest-default-endpoint")
    aws.secrets[SECRET] = AUTH_TOKEN
    env = lambda_env(
        database_url,
        deployment.public_url,
        tmp_path,
        BACKLINE_TWILIO_AUTH_TOKEN="",
        BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN=SECRET,
        **aws.env(),
    )
    handler = FallbackHandler(Runtime(env))
    signed_old = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER))
    assert handler(signed_old, FakeContext())["statusCode"] == 200
    assert secret_reads(aws) == 1  # at the cold start
    # The token is rotated: the secret now holds the new one (and, for the change-over, the old).
    aws.secrets[SECRET] = f"{NEW_TOKEN},{AUTH_TOKEN}"
    signed_new = fallback_params(TWILIO_NUMBER)
    result = handler(twilio_post(deployment, FALLBACK, signed_new, token=NEW_TOKEN), FakeContext())
    assert result["statusCode"] == 200, result
    assert secret_reads(aws) == 2
    old_again = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER))
    assert handler(old_again, FakeContext())["statusCode"] == 200
    # Forged requests make it read the secret at most once a minute: not again so soon.
    for _ in range(3):
        forged = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER), token="0" * 32)
        assert handler(forged, FakeContext())["statusCode"] == 403
    assert secret_reads(aws) == 2
    monkeypatch.setattr(runtime, "_TOKEN_REREAD_SECONDS", 0.0)
    handler.runtime._token_reread_after = 0.0  # type: ignore[union-attr]
    forged = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER), token="0" * 32)
    assert handler(forged, FakeContext())["statusCode"] == 403
    assert secret_reads(aws) == 3  # a minute on, one more read; the same token: still refused
    assert rows(database_url, "SELECT count(*) FROM calls") == [(3,)]


def test_a_token_set_directly_is_never_fetched(
    database_url: str, tmp_path: Path, aws: AwsStandIn
) -> None:
    add_route(database_url)
    deployment = by_name("rest-default-endpoint")
    handler = FallbackHandler(
        Runtime(lambda_env(database_url, deployment.public_url, tmp_path, **aws.env()))
    )
    forged = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER), token="0" * 32)
    assert handler(forged, FakeContext())["statusCode"] == 403
    assert aws.received == []
