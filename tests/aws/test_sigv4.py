"""SigV4 against AWS's published test-suite vectors, and the request shapes backline sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backline.aws.sigv4 import Credentials, sign

SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [
        # get-vanilla, get-vanilla-query-order-key-case and post-vanilla from the test suite.
        ("GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            "GET",
            "Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        ("POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ],
)
def test_aws_test_suite_vectors(method: str, query: str, expected: str) -> None:
    headers = sign(
        method,
        "example.amazonaws.com",
        "/",
        query,
        {},
        b"",
        SUITE,
        "us-east-1",
        "service",
        SUITE_TIME,
    )
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={expected}"
    )


# Lambda Invoke requests as backline sends them; the signatures were checked against the AWS
# SDK for Python's signer for the same request when this was written.
TEMPORARY = Credentials("AKIDEXAMPLE", "secret/abc", "tok+en=")
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
BODY = b'{"source": "x"}'


def test_an_invoke_with_a_session_token() -> None:
    headers = sign(
        "POST",
        "lambda.ap-northeast-1.amazonaws.com",
        "/2015-03-31/functions/backline-Dispatcher-AbC_1/invocations",
        "",
        {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"},
        BODY,
        TEMPORARY,
        "ap-northeast-1",
        "lambda",
        WHEN,
    )
    assert headers["X-Amz-Security-Token"] == "tok+en="
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/ap-northeast-1/lambda/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token, "
        "Signature=7756f1d43876cdd7bbc75c9cf6ccad3aaed54220c5e423cace0013398ab64d0c"
    )


def test_an_arn_in_the_path_is_encoded_twice_in_the_canonical_request() -> None:
    path = (
        "/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aap-northeast-1%3A123456789012%3Afunction%3Af/invocations"
    )
    headers = sign(
        "POST",
        "lambda.ap-northeast-1.amazonaws.com",
        path,
        "",
        {},
        BODY,
        TEMPORARY,
        "ap-northeast-1",
        "lambda",
        WHEN,
    )
    assert headers["Authorization"].endswith(
        "Signature=8e72c25b9f66f2ae8bd4794c0ed49518fe38ea5e3a11a9f50dcce82cbd5c900e"
    )


def test_credentials_do_not_print_the_secret() -> None:
    assert "secret/abc" not in repr(TEMPORARY)
    assert "tok+en" not in repr(TEMPORARY)
