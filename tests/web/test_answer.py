"""The fallback and dial-outcome endpoints, driven by requests signed exactly as Twilio signs."""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from urllib.parse import urlencode

from starlette.testclient import TestClient

from backline.config import Config
from backline.web import app
from tests.support import (
    PUBLIC_URL,
    add_number,
    dial_params,
    fallback_params,
    query,
    sign,
    signed_post,
)

TWILIO = "+815031234567"
OFFICE = ("+81312345678", "+819011112222")
FALLBACK = "/twilio/voice/fallback"


def post(
    client: TestClient, path: str, params: dict[str, str]
) -> tuple[int, ElementTree.Element | str]:
    body, headers = signed_post(path, params)
    response = client.post(path, content=body, headers=headers)
    if response.status_code != 200:
        return response.status_code, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return 200, ElementTree.fromstring(response.content)


def test_known_number_is_forwarded_with_the_twilio_number_as_caller_id(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE)
    params = fallback_params(TWILIO)
    status, root = post(client_for(database_url), FALLBACK, params)
    assert status == 200 and isinstance(root, ElementTree.Element)
    dial = root.find("Dial")
    assert dial is not None and len(root) == 1
    assert dial.get("callerId") == TWILIO
    assert dial.get("timeout") == "20"
    assert dial.get("action") == f"{PUBLIC_URL}/twilio/voice/dial-status?step=0"
    assert [n.text for n in dial.findall("Number")] == list(OFFICE)
    rows = query(
        database_url,
        "SELECT to_number, from_number, error_code, error_url, outcome "
        "FROM calls WHERE call_sid = :sid",
        sid=params["CallSid"],
    )
    assert rows == [
        (TWILIO, "+819012345678", "11200", "https://ivr.example.com/twilio/incoming", "forwarding")
    ]


def test_get_requests_are_signed_over_the_query_string(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    params = fallback_params(TWILIO)
    path = f"{FALLBACK}?{urlencode(params)}"
    response = client_for(database_url).get(
        path, headers={"X-Twilio-Signature": sign(PUBLIC_URL + path, {})}
    )
    assert response.status_code == 200
    assert ElementTree.fromstring(response.content).find("Dial") is not None


def test_forged_or_missing_signature_is_refused_and_nothing_recorded(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url)
    params = fallback_params(TWILIO)
    body, headers = signed_post(FALLBACK, params, token="not-the-account-token")
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403
    del headers["X-Twilio-Signature"]
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403
    # Signed over the Host header instead of the public URL (what a naive proxy setup does).
    body, headers = signed_post(FALLBACK, params, public_url="http://10.0.0.7:8000")
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403
    # A parameter changed after signing.
    body, headers = signed_post(FALLBACK, params)
    tampered = body.replace(b"From=%2B819012345678", b"From=%2B819000000000")
    assert client.post(FALLBACK, content=tampered, headers=headers).status_code == 403
    assert query(database_url, "SELECT count(*) FROM calls") == [(0,)]


def test_twilio_retry_gets_the_same_answer_and_one_record(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url)
    params = fallback_params(TWILIO)
    body, headers = signed_post(FALLBACK, params)
    first = client.post(FALLBACK, content=body, headers=headers).text
    # The table changes between the attempt and Twilio's retry: the retry still gets the
    # answer the call was given.
    add_number(database_url, TWILIO, ("+81699999999",))
    time.sleep(0.5)
    assert client.post(FALLBACK, content=body, headers=headers).text == first
    assert query(database_url, "SELECT count(*) FROM calls") == [(1,)]
    assert query(database_url, "SELECT count(*) FROM events") == [(1,)]


def test_sequential_call_walks_the_list_then_apologises_in_the_routes_language(
    database_url: str, client_for
) -> None:
    add_number(
        database_url,
        TWILIO,
        OFFICE,
        mode="sequential",
        message="Sorry, we are closed.",
        language="en-US",
        voice="Polly.Joanna",
    )
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    _, root = post(client, FALLBACK, call)
    assert isinstance(root, ElementTree.Element)
    assert [n.text for n in root.iter("Number")] == [OFFICE[0]]
    _, root = post(client, "/twilio/voice/dial-status?step=0", dial_params(call, "busy"))
    assert isinstance(root, ElementTree.Element)
    assert [n.text for n in root.iter("Number")] == [OFFICE[1]]
    assert root[0].get("action", "").endswith("step=1")
    _, root = post(client, "/twilio/voice/dial-status?step=1", dial_params(call, "no-answer"))
    assert isinstance(root, ElementTree.Element)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    say = root[0]
    assert (say.text, say.get("language"), say.get("voice")) == (
        "Sorry, we are closed.",
        "en-US",
        "Polly.Joanna",
    )
    sid = call["CallSid"]
    assert query(
        database_url, "SELECT step, status FROM legs WHERE call_sid = :sid ORDER BY step", sid=sid
    ) == [(0, "busy"), (1, "no-answer")]
    assert query(database_url, "SELECT outcome FROM calls WHERE call_sid = :sid", sid=sid) == [
        ("no-answer",)
    ]
    outcome = query(database_url, "SELECT payload FROM events WHERE id = :id", id=f"{sid}:outcome")
    assert json.loads(outcome[0][0])["outcome"] == "no-answer"


def test_answered_call_hangs_up_without_apology(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    post(client, FALLBACK, call)
    _, root = post(client, "/twilio/voice/dial-status?step=0", dial_params(call, "completed", 95))
    assert isinstance(root, ElementTree.Element)
    assert [c.tag for c in root] == ["Hangup"]
    assert query(
        database_url,
        "SELECT outcome, duration FROM calls WHERE call_sid = :sid",
        sid=call["CallSid"],
    ) == [("answered", 95)]


def test_unknown_number_gets_catch_all_or_default_apology(database_url: str, client_for) -> None:
    client = client_for(database_url)
    _, root = post(client, FALLBACK, fallback_params("+815000000000"))
    assert isinstance(root, ElementTree.Element)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root[0].get("language") == "ja-JP"
    query(database_url, "SELECT 1")  # the table is reachable; now set a catch-all
    db_settings = [("catch_all", "+81300000000")]
    for key, value in db_settings:
        add_setting(database_url, key, value)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, root = post(client, FALLBACK, fallback_params("+815000000000"))
        if isinstance(root, ElementTree.Element) and root.find("Dial") is not None:
            break
        time.sleep(0.1)
    assert isinstance(root, ElementTree.Element)
    dial = root.find("Dial")
    assert dial is not None and [n.text for n in dial] == ["+81300000000"]
    assert dial.get("callerId") == "+815000000000"


def add_setting(database_url: str, key: str, value: str) -> None:
    from backline.store.database import Database

    db = Database(database_url)
    connection = db.connect()
    connection.cursor().execute(
        db.sql("INSERT INTO settings (key, value) VALUES (:k, :v)"), {"k": key, "v": value}
    )
    connection.commit()
    connection.close()


def test_a_change_to_the_table_reaches_the_running_service(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url)
    add_number(database_url, TWILIO, ("+81699999999",))
    deadline = time.monotonic() + 10
    numbers: list[str | None] = []
    while time.monotonic() < deadline:
        _, root = post(client, FALLBACK, fallback_params(TWILIO))
        assert isinstance(root, ElementTree.Element)
        numbers = [n.text for n in root.iter("Number")]
        if numbers == ["+81699999999"]:
            break
        time.sleep(0.1)
    assert numbers == ["+81699999999"]


def test_caller_supplied_text_cannot_change_the_markup(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE, caller_id="caller")
    params = fallback_params(TWILIO, from_='+8190"/><Dial><Number>+19005550000</Number></Dial>')
    _, root = post(client_for(database_url), FALLBACK, params)
    assert isinstance(root, ElementTree.Element)
    assert [c.tag for c in root] == ["Dial"]
    assert [n.text for n in root.iter("Number")] == list(OFFICE)
    assert root[0].get("callerId") == TWILIO  # not a number, so not used as caller ID


def test_demo_mode_answers_unsigned_requests(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    client = client_for(database_url, insecure_demo=True, public_url="")
    response = client.post(FALLBACK, data=fallback_params(TWILIO))
    assert response.status_code == 200
    dial = ElementTree.fromstring(response.content).find("Dial")
    assert dial is not None and dial.get("action") == "/twilio/voice/dial-status?step=0"


def test_healthz_reports_the_snapshot(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    health = client_for(database_url).get("/healthz").json()
    assert health["status"] == "ok"
    assert health["snapshot"]["source"] == "database" and health["snapshot"]["numbers"] == 1


def test_a_signature_that_is_not_even_ascii_is_refused(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE)
    body, headers = signed_post(FALLBACK, fallback_params(TWILIO))
    raw = {k.encode(): v.encode() for k, v in headers.items()}
    raw[b"X-Twilio-Signature"] = "sïgnature\xff".encode("latin-1")
    response = client_for(database_url).post(FALLBACK, content=body, headers=raw)
    assert response.status_code == 403
    assert query(database_url, "SELECT count(*) FROM calls") == [(0,)]


def test_a_drill_is_answered_like_a_call_and_recorded_nowhere(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    client = client_for(database_url)
    call = post(client, FALLBACK, fallback_params(TWILIO))[1]
    drill_params = fallback_params(TWILIO, call_sid="drill-20261124T000000Z-0123456789ab")
    drill = post(client, FALLBACK, drill_params)[1]
    assert isinstance(call, ElementTree.Element) and isinstance(drill, ElementTree.Element)
    assert ElementTree.tostring(drill) == ElementTree.tostring(call)
    step_0 = "/twilio/voice/dial-status?step=0"
    status, after = post(client, step_0, dial_params(drill_params, "no-answer"))
    assert status == 200 and isinstance(after, ElementTree.Element)
    assert [n.text for n in after.iter("Number")] == [OFFICE[1]]
    # The real call is in the log with its event; the drill left nothing anywhere.
    assert query(database_url, "SELECT count(*) FROM calls") == [(1,)]
    assert query(database_url, "SELECT count(*) FROM events") == [(1,)]
    assert query(database_url, "SELECT count(*) FROM legs") == [(0,)]
    # A drill is signed like anything else: unsigned, it is refused.
    body, headers = signed_post(FALLBACK, drill_params, token="not-the-account-token")
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403


def test_the_recorder_waits_at_most_half_a_millisecond_for_the_interpreter_lock(
    sqlite_url: str, make_config: Callable[..., Config]
) -> None:
    before = sys.getswitchinterval()
    with TestClient(app.create_app(make_config(sqlite_url))):
        assert sys.getswitchinterval() == app._SWITCH_INTERVAL_SECONDS == 0.0005
    assert sys.getswitchinterval() == before  # given back when the server stops
