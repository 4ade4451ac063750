"""The whole path as an operator sees it: a signed call reaches a running `backline serve`, and
its message reaches Slack; killed (-9) while Slack is down, the restarted server sends it once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from tests.processes import Server
from tests.standins import StandIn
from tests.support import AUTH_TOKEN, PUBLIC_URL, add_number, fallback_params, signed_post, wait_for

TWILIO = "+815031234567"
FALLBACK = "/twilio/voice/fallback"


def serve_env(database_url: str, state: Path) -> dict[str, str]:
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state),
        "BACKLINE_NOTIFY_LANGUAGE": "en",
        "BACKLINE_NOTIFY_QUIET_SECONDS": "0",
        "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS": "0",
        "BACKLINE_NOTIFY_RETRY_BASE_SECONDS": "0.2",
        "BACKLINE_NOTIFY_RETRY_MAX_SECONDS": "0.5",
        "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS": "2",
        "BACKLINE_LOG_LEVEL": "WARNING",
    }


def divert(server: Server, caller: str) -> None:
    params = fallback_params(TWILIO, from_=caller)
    status, text = server.post(FALLBACK, *signed_post(FALLBACK, params))
    assert status == 200 and "<Dial" in text


@pytest.mark.slow
def test_a_diverted_call_reaches_slack_and_survives_a_kill_9(
    database_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    add_number(database_url, TWILIO, ("+81312345678",), client_id=None)
    engine = make_engine(database_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    env = serve_env(database_url, tmp_path / "state")

    server = Server(env, tmp_path)
    try:
        divert(server, "+819000000001")
        wait_for(lambda: len(stand_in.accepted()) == 1, what="the first message")
        assert TWILIO in stand_in.accepted()[0].body.decode()

        stand_in.default = (500, {}, "down")
        divert(server, "+819000000002")
        wait_for(lambda: len(stand_in.received) >= 3, what="the server retrying")
    finally:
        server.stop(signal.SIGKILL)

    stand_in.default = (200, {}, "ok")
    restarted = Server(env, tmp_path)
    try:
        # If the kill fell inside a send, the channel's lease (3 x 2 s + 5 s) has to lapse.
        wait_for(lambda: len(stand_in.accepted()) == 2, timeout=40, what="the pending message")
        divert(restarted, "+819000000003")
        wait_for(lambda: len(stand_in.accepted()) == 3, what="a later call, after it")
    finally:
        restarted.stop()
    # Each caller told exactly once, in the order they called.
    bodies = [item.body.decode() for item in stand_in.accepted()]
    callers = ["+819000000001", "+819000000002", "+819000000003"]
    assert [[caller in body for caller in callers].index(True) for body in bodies] == [0, 1, 2]
    assert all(sum(caller in body for caller in callers) == 1 for body in bodies)
