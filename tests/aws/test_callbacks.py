"""The Lambda handler answers the screening and voicemail callbacks as the ASGI app does: the
URLs its TwiML names are requested as Twilio requests them, through each deployment's shape."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from backline.answer import ENDPOINTS, Endpoint
from backline.aws.fallback import FallbackHandler
from backline.aws.runtime import Runtime
from backline.manage.engine import make_engine
from backline.manage.numbers import add_number
from tests.aws.conftest import (
    DEPLOYMENTS,
    DESTINATION,
    TWILIO_NUMBER,
    Deployment,
    FakeContext,
    lambda_env,
    rows,
    twilio_post,
)
from tests.support import dial_params, fallback_params, new_call_sid

FALLBACK = "/twilio/voice/fallback"


def follow(
    handler: FallbackHandler,
    deployment: Deployment,
    url: str | None,
    params: dict[str, str],
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """Request an absolute URL from the TwiML as Twilio would, through ``deployment``."""
    assert url is not None and url.startswith(deployment.public_url), url
    parts = urlsplit(url[len(deployment.public_url) :])
    query = parse_qsl(parts.query, keep_blank_values=True)
    if token:
        event = twilio_post(deployment, parts.path, params, query=query or None, token=token)
    else:
        event = twilio_post(deployment, parts.path, params, query=query or None)
    return handler(event, FakeContext())


def xml(result: dict[str, Any]) -> ElementTree.Element:
    assert result["statusCode"] == 200, result
    assert result["headers"]["content-type"].startswith("text/xml")
    return ElementTree.fromstring(result["body"])


@pytest.mark.parametrize(
    "deployment",
    [d for d in DEPLOYMENTS if d.name in ("rest-default-endpoint", "rest-base-path-mapping")]
    + [d for d in DEPLOYMENTS if d.kind == "function-url"][:1],
    ids=lambda d: d.name,
)
def test_a_screened_call_and_its_voicemail_on_lambda(
    deployment: Deployment, database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    add_number(engine, TWILIO_NUMBER, (DESTINATION,), when_unanswered="voicemail", screen=True)
    engine.dispose()
    handler = FallbackHandler(
        Runtime(lambda_env(database_url, deployment.public_url, tmp_path / "state"))
    )
    call = fallback_params(TWILIO_NUMBER)
    dial = xml(handler(twilio_post(deployment, FALLBACK, call), FakeContext()))[0]
    (number,) = dial.iter("Number")
    leg = {
        "AccountSid": call["AccountSid"],
        "CallSid": new_call_sid(),
        "ParentCallSid": call["CallSid"],
        "To": DESTINATION,
        "From": TWILIO_NUMBER,
        "CallStatus": "in-progress",
    }
    whisper = xml(follow(handler, deployment, number.get("url"), leg))
    assert [c.tag for c in whisper] == ["Gather", "Hangup"]
    declined = xml(follow(handler, deployment, whisper[0].get("action"), dict(leg, Digits="3")))
    assert [c.tag for c in declined] == ["Hangup"]
    last = xml(follow(handler, deployment, dial.get("action"), dial_params(call, "no-answer")))
    assert [c.tag for c in last] == ["Say", "Say", "Record", "Hangup"]
    record = last[2]
    assert [c.tag for c in xml(follow(handler, deployment, record.get("action"), call))] == [
        "Hangup"
    ]
    status = {
        "AccountSid": call["AccountSid"],
        "CallSid": call["CallSid"],
        "RecordingSid": "RE" + "c" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "7",
    }
    forged = follow(
        handler, deployment, record.get("recordingStatusCallback"), status, token="f" * 32
    )
    assert forged["statusCode"] == 403
    assert rows(database_url, "SELECT count(*) FROM voicemails") == [(0,)]
    answered = follow(handler, deployment, record.get("recordingStatusCallback"), status)
    assert [c.tag for c in xml(answered)] == []
    assert rows(
        database_url, "SELECT call_sid, to_number, from_number, duration, status FROM voicemails"
    ) == [(call["CallSid"], TWILIO_NUMBER, call["From"], 7, "completed")]
    assert rows(database_url, "SELECT kind FROM events WHERE call_sid = :s ORDER BY kind",
                s=call["CallSid"]) == [("diverted",), ("outcome",), ("voicemail",)]  # fmt: skip
    assert rows(database_url, "SELECT destination, digits FROM screenings") == [(DESTINATION, "3")]


CALLBACKS = [endpoint for endpoint in ENDPOINTS if endpoint.emergency is not None]


def test_the_callbacks_are_the_five_paths_backlines_answers_name() -> None:
    assert [endpoint.path.rsplit("/", 1)[1] for endpoint in CALLBACKS] == [
        "screen",
        "screen-answer",
        "voicemail",
        "recording-status",
        "transcription",
    ]


@pytest.mark.parametrize("callback", CALLBACKS, ids=lambda c: c.path)
def test_each_callback_has_an_emergency_answer_that_keeps_the_call(callback: Endpoint) -> None:
    """What a callback answers when answering it failed: a whisper or a key connects the person
    who picked up (as an unscreened call would), a voicemail's end hangs up, and the status
    callbacks (whose answer Twilio ignores) get an empty response, never a 5xx."""
    assert callback.emergency is not None
    tags = [c.tag for c in ElementTree.fromstring(callback.emergency)]
    assert tags == (["Hangup"] if callback.path.endswith("/voicemail") else [])


def test_the_written_out_answers_are_what_the_twilio_builder_writes() -> None:
    from backline.answer import EMPTY_TWIML, HANGUP_TWIML
    from backline.core.models import Hangup
    from backline.core.twiml import render_verbs

    assert render_verbs((), None) == EMPTY_TWIML  # type: ignore[arg-type]
    assert render_verbs((Hangup(),), None) == HANGUP_TWIML  # type: ignore[arg-type]
