"""Calls as Twilio really sends them, through the running app with signed requests: the caller
who hangs up while a leg rings, the fallback requested again for a call already forwarded, SIP
beside numbers, voices per language, several auth tokens and a fallback URL with a final slash.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from backline.core.signatures import TwilioSigner
from tests.support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    add_number,
    dial_params,
    fallback_params,
    query,
    sign,
    signed_post,
)

TWILIO = "+815031234567"
OFFICE = ("+81312345678", "+819011112222", "+81662345678")
SIP = "sip:desk@pbx.example.com"
FALLBACK = "/twilio/voice/fallback"
STATUS = "/twilio/voice/dial-status"
OTHER_TOKEN = "abcdefabcdefabcdefabcdefabcdef12"


def post(
    client: TestClient, path: str, params: dict[str, str], token: str = AUTH_TOKEN
) -> ElementTree.Element:
    body, headers = signed_post(path, params, token=token)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return ElementTree.fromstring(response.content)


def dialled(root: ElementTree.Element) -> list[str | None]:
    return [n.text for n in root.iter("Number")] + [s.text for s in root.iter("Sip")]


def outcome(database_url: str, sid: str) -> str:
    return str(query(database_url, "SELECT outcome FROM calls WHERE call_sid = :s", s=sid)[0][0])


def legs(database_url: str, sid: str) -> list[tuple[int, str]]:
    rows = query(
        database_url, "SELECT step, status FROM legs WHERE call_sid = :s ORDER BY step", s=sid
    )
    return [(int(step), str(status)) for step, status in rows]


# -- 1. the caller hangs up while a leg rings --------------------------------------------------
def test_a_caller_who_hangs_up_while_a_leg_rings_ends_the_call(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    assert dialled(post(client, FALLBACK, call)) == [OFFICE[0]]
    # The action request after the caller hung up: the parent call's status is "completed",
    # the leg that rang for nobody ends unanswered.
    gone = dict(dial_params(call, "no-answer"), CallStatus="completed")
    root = post(client, f"{STATUS}?step=0", gone)
    assert [c.tag for c in root] == ["Hangup"]  # no next leg, no apology for nobody
    sid = call["CallSid"]
    assert outcome(database_url, sid) == "caller-hung-up"
    assert legs(database_url, sid) == [(0, "no-answer")]
    event = query(database_url, "SELECT payload FROM events WHERE id = :i", i=f"{sid}:outcome")
    assert json.loads(event[0][0])["outcome"] == "caller-hung-up"


def test_a_leg_that_rang_while_the_caller_stayed_moves_on(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    post(client, FALLBACK, call)
    root = post(client, f"{STATUS}?step=0", dial_params(call, "no-answer"))  # in-progress
    assert dialled(root) == [OFFICE[1]]
    assert outcome(database_url, call["CallSid"]) == "forwarding"


# -- 2. the fallback URL requested again for a call already forwarded --------------------------
def again(call: dict[str, str], step: str | None, **more: str) -> dict[str, str]:
    """The fallback request Twilio sends when the call's dial-outcome URL failed."""
    error_url = f"{PUBLIC_URL}{STATUS}" + (f"?step={step}" if step is not None else "")
    return dict(call, CallStatus="in-progress", ErrorCode="11200", ErrorUrl=error_url, **more)


def test_a_second_fallback_continues_the_hunt_instead_of_starting_again(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    assert dialled(post(client, FALLBACK, call)) == [OFFICE[0]]
    # Leg 0 ended and the dial-outcome request never reached backline: Twilio requests the
    # fallback URL again. The hunt goes on with leg 1, never back to leg 0.
    root = post(client, FALLBACK, again(call, "0"))
    assert dialled(root) == [OFFICE[1]]
    assert root[0].get("action") == f"{PUBLIC_URL}{STATUS}?step=1"
    sid = call["CallSid"]
    assert legs(database_url, sid) == [(0, "unknown")]
    # Leg 1's outcome reached backline but its answer did not reach Twilio: the fallback
    # request for it gets the very answer the dial-outcome request got, and one leg row.
    first = post(client, f"{STATUS}?step=1", dial_params(call, "busy"))
    assert dialled(first) == [OFFICE[2]]
    second = post(client, FALLBACK, again(call, "1", DialCallStatus="busy"))
    assert ElementTree.tostring(second) == ElementTree.tostring(first)
    assert legs(database_url, sid) == [(0, "unknown"), (1, "busy")]
    # The last leg's dial-outcome URL fails too: the apology, then the end.
    root = post(client, FALLBACK, again(call, "2", DialCallStatus="no-answer"))
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert outcome(database_url, sid) == "no-answer"
    assert query(database_url, "SELECT count(*) FROM calls") == [(1,)]


@pytest.mark.parametrize(
    ("step", "extra", "tags", "expected"),
    [
        ("0", {"DialCallStatus": "completed", "DialCallDuration": "61"}, ["Hangup"], "answered"),
        ("0", {"CallStatus": "completed"}, ["Hangup"], "caller-hung-up"),
        (None, {}, ["Say", "Hangup"], "failed"),  # which leg is unknown: only the apology is left
        ("x", {}, ["Say", "Hangup"], "failed"),
    ],
)
def test_a_second_fallback_never_dials_the_first_leg_again(
    database_url: str,
    client_for,
    step: str | None,
    extra: dict[str, str],
    tags: list[str],
    expected: str,
) -> None:
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    post(client, FALLBACK, call)
    params = again(call, step)
    params.update(extra)
    root = post(client, FALLBACK, params)
    assert [c.tag for c in root] == tags
    assert outcome(database_url, call["CallSid"]) == expected


def test_a_fallback_for_a_later_primary_url_is_a_first_fallback(
    database_url: str, client_for
) -> None:
    """A call the primary answered, whose later request failed: new to backline."""
    add_number(database_url, TWILIO, OFFICE, mode="sequential")
    call = dict(
        fallback_params(TWILIO, error_url="https://ivr.example.com/twilio/gather?step=3"),
        CallStatus="in-progress",
    )
    assert dialled(post(client_for(database_url), FALLBACK, call)) == [OFFICE[0]]


# -- 3. SIP ------------------------------------------------------------------------------------
def test_sip_never_shares_a_dial_with_numbers(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, (OFFICE[0], SIP, OFFICE[1]))  # simultaneous
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    root = post(client, FALLBACK, call)
    assert [c.tag for c in root[0]] == ["Number", "Number"]
    assert dialled(root) == [OFFICE[0], OFFICE[1]]
    root = post(client, f"{STATUS}?step=0", dial_params(call, "no-answer"))
    assert [c.tag for c in root[0]] == ["Sip"] and dialled(root) == [SIP]
    root = post(client, f"{STATUS}?step=1", dial_params(call, "failed"))
    assert [c.tag for c in root] == ["Say", "Hangup"]
    rows = query(
        database_url,
        "SELECT step, destinations FROM legs WHERE call_sid = :s ORDER BY step",
        s=call["CallSid"],
    )
    assert [(step, json.loads(d)) for step, d in rows] == [
        (0, [OFFICE[0], OFFICE[1]]),
        (1, [SIP]),
    ]


# -- 4. voices -----------------------------------------------------------------------------------
def test_a_route_in_english_without_a_voice_gets_an_english_voice(
    database_url: str, client_for
) -> None:
    add_number(database_url, TWILIO, OFFICE[:1], message="Sorry.", language="en-US")
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    post(client, FALLBACK, call)
    root = post(client, f"{STATUS}?step=0", dial_params(call, "busy"))
    say = root[0]
    assert (say.get("language"), say.get("voice")) == ("en-US", "Polly.Joanna")


# -- 5. several auth tokens ------------------------------------------------------------------------
@pytest.fixture
def hmacs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HMACs computed, by token: the answer path's own (the library's algorithm written
    out) and the twilio library's validator's. Both are counted and still computed."""
    computed: list[str] = []
    original = RequestValidator.compute_signature
    written_out = TwilioSigner.signature

    def counting(self: RequestValidator, *args: object, **kwargs: object) -> str:
        computed.append(self.token.decode() if isinstance(self.token, bytes) else self.token)
        return str(original(self, *args, **kwargs))  # type: ignore[arg-type]

    def counting_written_out(self: TwilioSigner, url: str, params: Mapping[str, str]) -> str:
        computed.append(self.token)
        return written_out(self, url, params)

    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    monkeypatch.setattr(TwilioSigner, "signature", counting_written_out)
    return computed


def test_any_of_several_tokens_signs_and_each_account_costs_one_hmac(
    database_url: str, client_for, hmacs: list[str]
) -> None:
    add_number(database_url, TWILIO, OFFICE[:1])
    client = client_for(database_url, twilio_auth_token=f" {AUTH_TOKEN} , {OTHER_TOKEN} ")
    subaccount = "AC" + "2" * 32
    for token, account in ((AUTH_TOKEN, "AC" + "1" * 32), (OTHER_TOKEN, subaccount)):
        params = dict(fallback_params(TWILIO), AccountSid=account)
        assert dialled(post(client, FALLBACK, params, token=token)) == [OFFICE[0]]
    # Known now: the subaccount's next request is checked with its own token first, once.
    body, headers = signed_post(
        FALLBACK, dict(fallback_params(TWILIO), AccountSid=subaccount), token=OTHER_TOKEN
    )
    hmacs.clear()  # (signing the request above used the library too)
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 200
    assert hmacs == [OTHER_TOKEN]
    # A token from neither list: refused, nothing recorded.
    body, headers = signed_post(FALLBACK, fallback_params(TWILIO), token="f" * 32)
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403
    assert query(database_url, "SELECT count(*) FROM calls") == [(3,)]


def test_a_forged_request_cannot_teach_an_account_a_token(
    database_url: str, client_for, hmacs: list[str]
) -> None:
    add_number(database_url, TWILIO, OFFICE[:1])
    client = client_for(database_url, twilio_auth_token=f"{AUTH_TOKEN},{OTHER_TOKEN}")
    account = "AC" + "3" * 32
    body, headers = signed_post(
        FALLBACK, dict(fallback_params(TWILIO), AccountSid=account), token="f" * 32
    )
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 403
    body, headers = signed_post(
        FALLBACK, dict(fallback_params(TWILIO), AccountSid=account), token=AUTH_TOKEN
    )
    hmacs.clear()
    assert client.post(FALLBACK, content=body, headers=headers).status_code == 200
    assert hmacs == [AUTH_TOKEN]  # the forged request taught it nothing: the first token first


def test_get_requests_are_matched_to_their_account_too(database_url: str, client_for) -> None:
    add_number(database_url, TWILIO, OFFICE[:1])
    client = client_for(database_url, twilio_auth_token=f"{AUTH_TOKEN},{OTHER_TOKEN}")
    path = f"{FALLBACK}?{urlencode(fallback_params(TWILIO))}"
    response = client.get(
        path, headers={"X-Twilio-Signature": sign(PUBLIC_URL + path, {}, OTHER_TOKEN)}
    )
    assert response.status_code == 200 and b"<Dial" in response.content


# -- 7. the fallback path with a final slash -------------------------------------------------------
@pytest.mark.parametrize("path", [FALLBACK + "/", STATUS + "/?step=0"])
def test_a_final_slash_gets_the_same_answer_never_a_redirect(
    database_url: str, client_for, path: str
) -> None:
    add_number(database_url, TWILIO, OFFICE[:1])
    client = client_for(database_url)
    call = fallback_params(TWILIO)
    params = call if path.startswith(FALLBACK) else dial_params(call, "busy")
    body, headers = signed_post(path, params)
    response = client.post(path, content=body, headers=headers, follow_redirects=False)
    assert response.status_code == 200 and "location" not in response.headers
    root = ElementTree.fromstring(response.content)
    assert root[0].tag == ("Dial" if path.startswith(FALLBACK) else "Say")
    # Signed over the URL without the slash (not what Twilio requested): refused.
    body, headers = signed_post(path.replace("/?", "?").rstrip("/"), params)
    assert client.post(path, content=body, headers=headers).status_code == 403


def test_other_paths_are_never_redirected(database_url: str, client_for) -> None:
    response = client_for(database_url).get("/healthz/", follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
