"""Pure event parsing: every shape, every way the stage can (or cannot) be in the path."""

from __future__ import annotations

import base64

import pytest

from backline.aws.events import (
    EventError,
    app_path,
    base_path_of,
    parse_event,
    response,
    with_app_path,
)
from tests.aws.conftest import DEPLOYMENTS, Deployment, make_event

ROUTES = frozenset({"/twilio/voice/fallback", "/twilio/voice/dial-status", "/healthz"})


@pytest.mark.parametrize(
    ("raw", "stage", "base", "expected"),
    [
        # REST API, execute-api endpoint: path without the stage.
        ("/twilio/voice/fallback", "Prod", "/Prod", "/twilio/voice/fallback"),
        # HTTP API, named stage: rawPath with it.
        ("/Prod/twilio/voice/fallback", "Prod", "/Prod", "/twilio/voice/fallback"),
        # HTTP API, $default stage.
        ("/twilio/voice/fallback", "$default", "", "/twilio/voice/fallback"),
        # Custom domain at its root, stage in the event's path anyway.
        ("/Prod/twilio/voice/fallback", "Prod", "", "/twilio/voice/fallback"),
        # Custom domain with a base path mapping.
        ("/backline/twilio/voice/fallback", "Prod", "/backline", "/twilio/voice/fallback"),
        # Base path mapping without a stage: both in the path.
        (
            "/backline/Prod/twilio/voice/fallback",
            "Prod",
            "/backline/Prod",
            "/twilio/voice/fallback",
        ),
        # A stage named like the route's first segment is not stripped from the route.
        ("/twilio/voice/fallback", "twilio", "", "/twilio/voice/fallback"),
        ("/twilio/twilio/voice/fallback", "twilio", "/twilio", "/twilio/voice/fallback"),
        # Percent-encoding is undone, as for any ASGI path.
        ("/Prod/twilio/voice/dial%2Dstatus", "Prod", "/Prod", "/twilio/voice/dial-status"),
        # Not ours: the most stripped candidate, for a 404.
        ("/Prod/other", "Prod", "/Prod", "/other"),
        ("", "$default", "", "/"),
    ],
)
def test_app_path(raw: str, stage: str, base: str, expected: str) -> None:
    assert app_path(raw, stage=stage, base_path=base, routes=ROUTES) == expected


def test_base_path_of() -> None:
    assert base_path_of("https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod") == "/Prod"
    assert base_path_of("https://abc.execute-api.ap-northeast-1.amazonaws.com/Prod/") == "/Prod"
    assert base_path_of("https://voice.example.com") == ""
    assert base_path_of("") == ""


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_every_shape_gives_the_same_request(deployment: Deployment) -> None:
    body = b"CallSid=CA1&To=%2B815031234567&Blank="
    event = make_event(
        deployment,
        "POST",
        "/twilio/voice/dial-status",
        query=[("step", "2")],
        body=body,
        headers={"X-Twilio-Signature": "c2ln"},
    )
    request = parse_event(event, base_path=base_path_of(deployment.public_url), routes=ROUTES)
    assert request.kind == deployment.kind
    assert request.method == "POST"
    assert request.path == "/twilio/voice/dial-status"
    assert request.query == "step=2"
    assert request.body == body
    assert request.header("X-Twilio-Signature") == "c2ln"
    assert request.form() == {"CallSid": "CA1", "To": "+815031234567", "Blank": ""}
    assert request.query_params() == {"step": "2"}


def test_a_get_form_comes_from_the_query() -> None:
    deployment = DEPLOYMENTS[0]
    event = make_event(
        deployment,
        "GET",
        "/twilio/voice/fallback",
        query=[("CallSid", "CA1"), ("To", "+8150"), ("Caller", "")],
    )
    request = parse_event(event, base_path="/Prod", routes=ROUTES)
    assert request.body == b""
    assert request.query == "CallSid=CA1&To=%2B8150&Caller="
    assert request.form() == {"CallSid": "CA1", "To": "+8150", "Caller": ""}


def test_rest_api_headers_prefer_the_multi_value_form() -> None:
    event = make_event(DEPLOYMENTS[0], "POST", "/twilio/voice/fallback", body=b"")
    event["headers"] = {"X-Twilio-Signature": "only-single"}
    event["multiValueHeaders"] = {"x-twilio-signature": ["multi"]}
    request = parse_event(event, base_path="/Prod", routes=ROUTES)
    assert request.header("x-twilio-signature") == "multi"


def test_rest_api_events_without_headers_or_body() -> None:
    event = make_event(DEPLOYMENTS[0], "GET", "/healthz")
    event["headers"] = None
    event["multiValueHeaders"] = None
    request = parse_event(event, base_path="/Prod", routes=ROUTES)
    assert request.headers == {}
    assert request.body == b""


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {"source": "aws.events", "detail-type": "Scheduled Event"},
        {"requestContext": {}},
        {"version": "2.0", "requestContext": {"stage": "$default"}},
        {"version": "2.0", "requestContext": {"http": {"method": ""}}, "rawPath": "/"},
        {"httpMethod": "POST", "path": "/", "requestContext": {}, "body": 12},
        {
            "httpMethod": "POST",
            "path": "/",
            "requestContext": {},
            "body": "%%%",
            "isBase64Encoded": True,
        },
    ],
)
def test_what_is_not_an_http_event(event: object) -> None:
    with pytest.raises(EventError):
        parse_event(event, base_path="", routes=ROUTES)


def test_base64_bodies_are_decoded() -> None:
    event = make_event(DEPLOYMENTS[4], "POST", "/twilio/voice/fallback", body=b"a=1&b=%C3%A9")
    assert event["body"] == base64.b64encode(b"a=1&b=%C3%A9").decode()
    request = parse_event(event, base_path="/Prod", routes=ROUTES)
    assert request.form() == {"a": "1", "b": "é"}


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_with_app_path_rewrites_what_mangum_reads(deployment: Deployment) -> None:
    event = make_event(deployment, "POST", "/twilio/voice/fallback", body=b"")
    copy = with_app_path(event, "/twilio/voice/fallback")
    if deployment.kind == "rest-v1":
        assert copy["path"] == "/twilio/voice/fallback"
    else:
        assert copy["rawPath"] == "/twilio/voice/fallback"
        assert copy["requestContext"]["http"]["path"] == "/twilio/voice/fallback"
        assert event["requestContext"]["http"]["path"] == deployment.path_prefix + (
            "/twilio/voice/fallback"
        )  # the original is untouched


def test_response_shape() -> None:
    assert response(200, "<Response/>", "text/xml", {"x-a": "b"}) == {
        "statusCode": 200,
        "headers": {"content-type": "text/xml", "x-a": "b"},
        "body": "<Response/>",
        "isBase64Encoded": False,
    }
