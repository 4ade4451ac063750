"""The full ASGI app through Mangum answers every event exactly as the lean handler does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backline.aws.asgi import AsgiHandler
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from tests.aws.conftest import (
    DEPLOYMENTS,
    TWILIO_NUMBER,
    AwsStandIn,
    Deployment,
    FakeContext,
    add_route,
    lambda_env,
    make_event,
    twilio_get,
    twilio_post,
)
from tests.support import dial_params, fallback_params

FALLBACK = "/twilio/voice/fallback"
STATUS = "/twilio/voice/dial-status"


@pytest.fixture(autouse=True)
def event_loop_of_the_instance() -> Iterator[None]:
    """Mangum runs every event on the thread's current event loop, creating one the first time
    and keeping it, as a Lambda instance should. Here each test gets its own, closed when it
    ends: a loop left behind would be dropped by the next ``asyncio.run`` in this process and
    warned about as unclosed wherever the garbage collector happened to find it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def events_for(deployment: Deployment) -> list[dict[str, Any]]:
    first = fallback_params(TWILIO_NUMBER)
    second = fallback_params(TWILIO_NUMBER)
    forged = twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER))
    forged["headers"] = {**forged["headers"], "X-Twilio-Signature": "Zm9yZ2Vk"}
    if "multiValueHeaders" in forged:
        forged["multiValueHeaders"] = {
            name: [forged["headers"][name]] for name in forged["headers"]
        }
    return [
        twilio_post(deployment, FALLBACK, first),
        twilio_post(deployment, STATUS, dial_params(first, "busy"), query=[("step", "0")]),
        twilio_get(deployment, FALLBACK, list(second.items())),
        twilio_post(deployment, FALLBACK, first),  # Twilio's retry: the first answer again
        forged,
        make_event(deployment, "GET", "/elsewhere"),
    ]


def summary(result: dict[str, Any]) -> tuple[int, str, str]:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return result["statusCode"], headers.get("content-type", ""), result.get("body", "")


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_same_answers_as_the_lean_handler(
    deployment: Deployment, database_url: str, tmp_path: Path
) -> None:
    add_route(database_url)
    lean = FallbackHandler(
        Runtime(lambda_env(database_url, deployment.public_url, tmp_path / "lean"))
    )
    lean_results = [summary(lean(event, FakeContext())) for event in events_for(deployment)]
    # The same requests (same CallSids) again, through the full app on a fresh instance: the
    # records are already there, so the app must give the very same answers.
    events = events_for(deployment)
    full = AsgiHandler(Runtime(lambda_env(database_url, deployment.public_url, tmp_path / "full")))
    full_results = [summary(full(event, FakeContext())) for event in events]
    assert [r[0] for r in lean_results] == [200, 200, 200, 200, 403, 404]
    assert full_results == lean_results
    # Twilio answers compared on equal inputs: a fresh call through each.
    call = fallback_params(TWILIO_NUMBER)
    lean_answer = summary(lean(twilio_post(deployment, FALLBACK, call), FakeContext()))
    other = dict(call, CallSid=call["CallSid"][:-4] + "ffff")
    full_answer = summary(full(twilio_post(deployment, FALLBACK, other), FakeContext()))
    assert full_answer == lean_answer


def test_the_full_app_wakes_the_dispatcher_too(
    database_url: str, tmp_path: Path, aws: AwsStandIn
) -> None:
    add_route(database_url)
    deployment = DEPLOYMENTS[0]
    env = lambda_env(
        database_url,
        deployment.public_url,
        tmp_path / "s",
        BACKLINE_DISPATCHER_FUNCTION="backline-dispatcher",
        **aws.env(),
    )
    handler = AsgiHandler(Runtime(env))
    result = handler(
        twilio_post(deployment, FALLBACK, fallback_params(TWILIO_NUMBER)), FakeContext()
    )
    assert result["statusCode"] == 200
    assert len(aws.invokes()) == 1
    assert aws.invokes()[0].signature_ok
