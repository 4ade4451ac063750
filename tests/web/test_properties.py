"""Whatever arrives, the answer is a 403 (not signed by the account) or valid TwiML: never an
error, never a hang. Hypothesis throws forms, queries and signatures at the running app."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backline.config import Config
from backline.web.app import create_app
from tests.support import PUBLIC_URL, add_number, sign

TWILIO = "+815031234567"
PATHS = ("/twilio/voice/fallback", "/twilio/voice/dial-status")
KNOWN_KEYS = (
    "CallSid",
    "To",
    "From",
    "DialCallStatus",
    "DialCallDuration",
    "ErrorCode",
    "ErrorUrl",
    "Called",
    "Caller",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from backline.manage.migrate import upgrade

    root = tmp_path_factory.mktemp("properties")
    url = f"sqlite:///{root}/backline.db"
    upgrade(url)
    add_number(url, TWILIO, ("+81312345678", "sip:desk@pbx.example.com"), mode="sequential")
    config = Config(
        database_url=url,
        twilio_auth_token="t" * 32,
        public_url=PUBLIC_URL,
        state_dir=root / "state",
    )
    with TestClient(create_app(config)) as test_client:
        yield test_client


forms = st.dictionaries(
    st.sampled_from(KNOWN_KEYS) | st.text(min_size=1, max_size=12),
    st.sampled_from([TWILIO, "+819012345678", "busy", "completed", "-1", "", "CA1"])
    | st.text(max_size=40),
    max_size=8,
)
queries = st.sampled_from(["", "step=0", "step=1", "step=7", "step=-3", "step=x", "step="])


def check_twiml(body: bytes) -> None:
    root = ElementTree.fromstring(body)
    assert root.tag == "Response"
    assert {child.tag for child in root} <= {"Dial", "Say", "Hangup"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), query=queries, form=forms)
def test_signed_requests_always_get_valid_twiml(
    client: TestClient, path: str, query: str, form: dict[str, str]
) -> None:
    target = f"{path}?{query}" if query else path
    signature = sign(PUBLIC_URL + target, form, "t" * 32)
    response = client.post(
        target,
        content=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200
    check_twiml(response.content)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(PATHS),
    query=queries,
    form=forms,
    signature=st.binary(max_size=40),
    method=st.sampled_from(["GET", "POST"]),
)
def test_unsigned_requests_are_always_refused(
    client: TestClient,
    path: str,
    query: str,
    form: dict[str, str],
    signature: bytes,
    method: str,
) -> None:
    target = f"{path}?{query}" if query else path
    headers = {b"content-type": b"application/x-www-form-urlencoded"}
    if signature.strip():
        headers[b"x-twilio-signature"] = signature.replace(b"\r", b"").replace(b"\n", b"")
    response = client.request(method, target, content=urlencode(form).encode(), headers=headers)
    assert response.status_code == 403
