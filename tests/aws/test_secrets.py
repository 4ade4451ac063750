"""Secrets read at cold start from a loopback stand-in for Secrets Manager and SSM."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path

import pytest

from backline.aws.runtime import LAMBDA_STATE_DIR, load_config
from backline.aws.secrets import SecretError, resolve
from tests.aws.conftest import AwsStandIn
from tests.support import AUTH_TOKEN

ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret:backline/token-AbCdEf"
DATABASE = f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret:rds!db-0a1b2c-XyZ123"
PARAMETER = f"arn:aws:ssm:ap-northeast-1:{ACCOUNT}:parameter/backline/twilio-auth-token"
BUNDLE = f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret:backline/notify-QwErTy"


def test_nothing_named_nothing_fetched(aws: AwsStandIn) -> None:
    env = {**aws.env(), "BACKLINE_PUBLIC_URL": "https://x.example.com"}
    assert resolve(env) == env
    assert aws.received == []


def test_secrets_manager_and_ssm_fill_their_variables(aws: AwsStandIn) -> None:
    aws.secrets[SECRET] = AUTH_TOKEN
    aws.parameters[PARAMETER] = "from-ssm"
    env = {
        **aws.env(),
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
        "TWILIO_AUTH_TOKEN_SECRET_ARN": PARAMETER,
    }
    resolved = resolve(env)
    assert resolved["BACKLINE_TWILIO_AUTH_TOKEN"] == AUTH_TOKEN
    assert resolved["TWILIO_AUTH_TOKEN"] == "from-ssm"
    assert all(r.signature_ok for r in aws.received)
    targets = sorted(r.headers["x-amz-target"] for r in aws.received)
    assert targets == ["AmazonSSM.GetParameter", "secretsmanager.GetSecretValue"]
    ssm = next(r for r in aws.received if "SSM" in r.headers["x-amz-target"])
    assert json.loads(ssm.body) == {"Name": PARAMETER, "WithDecryption": True}
    assert "/ssm/aws4_request" in ssm.headers["authorization"]


def test_the_connections_it_opened_are_closed(aws: AwsStandIn) -> None:
    aws.secrets[SECRET] = AUTH_TOKEN
    aws.parameters[PARAMETER] = "from-ssm"
    env = {
        **aws.env(),
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
        "TWILIO_AUTH_TOKEN_SECRET_ARN": PARAMETER,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        resolve(env)
        gc.collect()
    port = aws.url.rsplit(":", 1)[1]
    assert [str(w.message) for w in caught if f", {port})" in str(w.message)] == []


def test_a_variable_set_directly_wins(aws: AwsStandIn) -> None:
    env = {
        **aws.env(),
        "BACKLINE_TWILIO_AUTH_TOKEN": "direct",
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
    }
    assert resolve(env)["BACKLINE_TWILIO_AUTH_TOKEN"] == "direct"
    assert aws.received == []


def test_an_rds_secret_becomes_a_database_url(aws: AwsStandIn) -> None:
    aws.secrets[DATABASE] = json.dumps(
        {
            "engine": "postgres",
            "host": "backline.cluster-abc.ap-northeast-1.rds.amazonaws.com",
            "port": 5432,
            "username": "backline",
            "password": "p@ss:w/rd",
            "dbname": "backline",
        }
    )
    resolved = resolve({**aws.env(), "BACKLINE_DATABASE_URL_SECRET_ARN": DATABASE})
    assert resolved["BACKLINE_DATABASE_URL"] == (
        "postgresql://backline:p%40ss%3Aw%2Frd@"
        "backline.cluster-abc.ap-northeast-1.rds.amazonaws.com:5432/backline"
    )


def test_a_plain_database_url_secret_is_used_as_it_is(aws: AwsStandIn) -> None:
    aws.secrets[DATABASE] = "postgresql://u:p@db.internal:5432/backline"
    resolved = resolve({**aws.env(), "BACKLINE_DATABASE_URL_SECRET_ARN": DATABASE})
    assert resolved["BACKLINE_DATABASE_URL"] == "postgresql://u:p@db.internal:5432/backline"


def test_one_key_of_a_json_secret(aws: AwsStandIn) -> None:
    aws.secrets[SECRET] = json.dumps({"token": AUTH_TOKEN, "other": "x"})
    resolved = resolve({**aws.env(), "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET + "#token"})
    assert resolved["BACKLINE_TWILIO_AUTH_TOKEN"] == AUTH_TOKEN
    with pytest.raises(SecretError, match="key 'missing'"):
        resolve({**aws.env(), "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET + "#missing"})


def test_a_bundle_of_variables(aws: AwsStandIn) -> None:
    aws.secrets[BUNDLE] = json.dumps(
        {"BACKLINE_SMTP_PASSWORD": "smtp-secret", "BACKLINE_SMTP_USER": "ignored"}
    )
    env = {**aws.env(), "BACKLINE_SECRETS_ARN": BUNDLE, "BACKLINE_SMTP_USER": "set"}
    resolved = resolve(env)
    assert resolved["BACKLINE_SMTP_PASSWORD"] == "smtp-secret"
    assert resolved["BACKLINE_SMTP_USER"] == "set"
    aws.secrets[BUNDLE] = "not json"
    with pytest.raises(SecretError, match="JSON object of variables"):
        resolve(env)


def test_failures_name_the_variable_never_the_value(aws: AwsStandIn) -> None:
    aws.secrets[SECRET] = AUTH_TOKEN
    env = {
        **aws.env(),
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
        "BACKLINE_DATABASE_URL_SECRET_ARN": DATABASE,
    }  # this one does not exist
    with pytest.raises(SecretError) as raised:
        resolve(env)
    message = str(raised.value)
    assert "BACKLINE_DATABASE_URL_SECRET_ARN" in message
    assert "ResourceNotFoundException" in message
    assert AUTH_TOKEN not in message


def test_bad_references(aws: AwsStandIn) -> None:
    with pytest.raises(SecretError, match="not the ARN"):
        resolve({**aws.env(), "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": "backline/token"})
    with pytest.raises(SecretError, match="'s3' ARN"):
        resolve(
            {**aws.env(), "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": "arn:aws:s3:ap-northeast-1:1:x"}
        )


def test_wrong_credentials_are_reported(aws: AwsStandIn) -> None:
    aws.secrets[SECRET] = AUTH_TOKEN
    env = {
        **aws.env(),
        "AWS_SECRET_ACCESS_KEY": "wrong",
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
    }
    with pytest.raises(SecretError, match="InvalidSignatureException"):
        resolve(env)


def test_no_credentials_at_all() -> None:
    with pytest.raises(SecretError, match="no AWS credentials"):
        resolve({"BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET})


def test_an_unreachable_service_is_bounded() -> None:
    import socket
    import time

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = {
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
    }
    started = time.monotonic()
    with pytest.raises(SecretError, match="cannot read"):
        resolve(env, timeout=0.5)
    assert time.monotonic() - started < 2


def test_load_config_on_lambda(aws: AwsStandIn, tmp_path: Path) -> None:
    aws.secrets[SECRET] = AUTH_TOKEN
    aws.secrets[DATABASE] = f"sqlite:///{tmp_path}/b.db"
    env = {
        **aws.env(),
        "AWS_LAMBDA_FUNCTION_NAME": "backline-fallback",
        "BACKLINE_TWILIO_AUTH_TOKEN_SECRET_ARN": SECRET,
        "BACKLINE_DATABASE_URL_SECRET_ARN": DATABASE,
        "BACKLINE_PUBLIC_URL": "https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod/",
    }
    config, resolved = load_config(env)
    assert config.twilio_auth_token == AUTH_TOKEN
    assert config.database_url == f"sqlite:///{tmp_path}/b.db"
    assert config.public_url == "https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod"
    assert str(config.state_dir) == LAMBDA_STATE_DIR  # the only writable place on Lambda
    assert resolved["BACKLINE_TWILIO_AUTH_TOKEN"] == AUTH_TOKEN
