"""Notifications under abuse: caller text that looks like markup or headers, receivers that
refuse, redirect, stall or ask to be left alone for a day, and channel URLs that point inward."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from backline.cli import app
from backline.config import Config
from backline.core.messages import Message
from backline.manage.channels import add_channel, get_channel
from backline.manage.engine import make_engine
from backline.notify.channels import ChannelSpec, DeliveryError
from backline.notify.channels.kinds import transport_for
from backline.notify.dispatcher import Dispatcher
from tests.notify.test_dispatcher import run_dispatcher, slack
from tests.processes import Server, free_port
from tests.standins import Received, StandIn
from tests.support import (
    add_number,
    call_record,
    fallback_params,
    record,
    service_env,
    signed_post,
    wait_for,
)

__all__ = ["run_dispatcher"]  # the fixture, used by name below

MESSAGE = Message("test", "[TEST] backline", ("a line",))


def channels_list(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["channels", "list", *args, "--database-url", database_url])
    assert result.exit_code == 0, result.output
    return result.stdout


def webhook(database_url: str, url: str) -> int:
    engine = make_engine(database_url)
    try:
        return add_channel(engine, "webhook", url, secret="s", allow_private=True).spec.id
    finally:
        engine.dispose()


# --- Slack shows caller text as text -----------------------------------------------------------


def test_caller_text_reaches_slack_as_text_not_markup(
    sqlite_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    """A caller ID that reads like Slack markup (a broadcast, a disguised link) is escaped in the
    plain `text` (what notifications and Mattermost show) as in the blocks."""
    twilio = "+815031234567"
    add_number(sqlite_url, twilio, ("+81312345678",))
    slack(sqlite_url, stand_in.url)
    env = service_env(sqlite_url, tmp_path / "state", BACKLINE_NOTIFY_LANGUAGE="en")
    server = Server(env, tmp_path)
    try:
        caller = "<!channel> <https://evil.example|Log in> & co"
        path = "/twilio/voice/fallback"
        status, _ = server.post(path, *signed_post(path, fallback_params(twilio, from_=caller)))
        assert status == 200
        wait_for(lambda: stand_in.accepted(), what="the Slack message")
    finally:
        server.stop()
    posted = stand_in.accepted()[0].json()
    mrkdwn = [posted["text"]] + [
        field["text"] for block in posted["blocks"] for field in block.get("fields", ())
    ]
    assert any("&lt;!channel&gt;" in text for text in mrkdwn)
    assert "&lt;!channel&gt; &lt;https://evil.example|Log in&gt; &amp; co" in posted["text"]
    for text in mrkdwn:
        # Slack parses only what sits between a real < and >; none is left in caller text.
        assert "<!channel>" not in text
        assert "<https://evil.example" not in text
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None


# --- no redirects, no inward addresses ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["slack", "webhook"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_receiver_that_redirects_is_not_followed(
    kind: str, status: int, stand_in_factory: Callable[[], StandIn]
) -> None:
    moved, elsewhere = stand_in_factory(), stand_in_factory()
    moved.default = (status, {"Location": elsewhere.url + "/stolen"}, "")
    spec = ChannelSpec(1, kind, moved.url + "/hook", options={"secret": "s"})
    settings = Config(allow_private_channels=True, notify_send_timeout_seconds=2.0)
    with pytest.raises(DeliveryError) as caught:
        transport_for(spec, settings).send(MESSAGE, "d1")
    assert caught.value.permanent  # the URL moved: a person fixes the channel
    assert str(status) in caught.value.detail
    assert len(moved.received) == 1
    assert elsewhere.received == []


@pytest.fixture
def private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKLINE_ALLOW_PRIVATE_CHANNELS", raising=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.0.0.2/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",  # 127.0.0.1, written as one number
        "http://0x7f.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.20/hook",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/",
    ],
)
def test_channel_urls_to_this_machine_or_metadata_are_refused(
    sqlite_url: str, url: str, private_refused: None
) -> None:
    for kind in ("slack", "webhook"):
        result = CliRunner().invoke(
            app, ["channels", "add", kind, url, "--database-url", sqlite_url]
        )
        assert result.exit_code == 2, result.output
        assert "BACKLINE_ALLOW_PRIVATE_CHANNELS=1" in result.stderr
    assert json.loads(channels_list(sqlite_url, "--json")) == []


def test_private_networks_are_ordinary_receivers_and_the_variable_allows_this_host(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKLINE_ALLOW_PRIVATE_CHANNELS", raising=False)
    runner = CliRunner()
    office = runner.invoke(
        app, ["channels", "add", "webhook", "https://10.1.2.3/hook", "--database-url", sqlite_url]
    )
    assert office.exit_code == 0, office.output
    monkeypatch.setenv("BACKLINE_ALLOW_PRIVATE_CHANNELS", "1")
    local = runner.invoke(
        app, ["channels", "add", "slack", "http://127.0.0.1:9/x", "--database-url", sqlite_url]
    )
    assert local.exit_code == 0, local.output


def test_a_stored_url_that_leads_inward_is_never_contacted(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    """The address connected to is what counts (a name may resolve elsewhere later): a channel
    whose URL reaches 127.0.0.1 is stopped before a byte is sent."""
    channel = slack(database_url, stand_in.url)  # stored while the variable allowed it
    run_dispatcher(database_url, allow_private_channels=False)
    record(database_url, call_record("CAinward"))
    engine = make_engine(database_url)
    wait_for(lambda: get_channel(engine, channel).spec.failing, what="the channel stopped")
    failing = get_channel(engine, channel).spec.failing or ""
    assert "127.0.0.1" in failing and "BACKLINE_ALLOW_PRIVATE_CHANNELS=1" in failing
    assert stand_in.received == []


# --- a value no header can carry ---------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[int, Inbox]]:
    mailbox = Inbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield int(controller.port), mailbox
    controller.stop()


def test_header_breaking_values_are_delivered_cleanly_and_stall_nothing(
    database_url: str,
    stand_in: StandIn,
    inbox: tuple[int, Inbox],
    run_dispatcher: Callable[..., Dispatcher],
) -> None:
    port, mailbox = inbox
    webhook(database_url, stand_in.url)
    engine = make_engine(database_url)
    add_channel(engine, "email", "oncall@example.com")
    engine.dispose()
    run_dispatcher(
        database_url,
        notify_quiet_seconds=0.0,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="backline@example.com",
    )
    hostile = "Acme\r\nBcc: everyone@example.com\r\nX-Injected: yes"
    # The answer path cleans a CallSid before storing it; a row written some other way (an
    # older version, a hand-made import) may still hold anything, and must not break a header.
    raw = replace(call_record("CAé", client=hostile), call_sid="CAé\r\nX-Injected: yes")
    record(database_url, raw)
    record(database_url, call_record("CAafter", client="Acme"))
    wait_for(lambda: len(stand_in.accepted()) == 2, what="both webhook deliveries")
    wait_for(lambda: len(mailbox.messages) == 2, what="both mails")

    for request in stand_in.accepted():
        delivery = request.headers["x-backline-delivery"]
        assert delivery.isascii() and delivery.isprintable()
        assert "x-injected" not in request.headers
    assert "%0D%0AX-Injected" in stand_in.accepted()[0].headers["x-backline-delivery"]
    for envelope in mailbox.messages:
        assert envelope.rcpt_tos == ["oncall@example.com"]
        mail = message_from_bytes(envelope.content)
        assert mail["Bcc"] is None and mail["X-Injected"] is None
        assert "\n" not in str(mail["Subject"])
    first = message_from_bytes(mailbox.messages[0].content)
    assert "Bcc: everyone@example.com" in str(first["Subject"])  # shown, as text, on one line


# --- one message never holds up the rest -------------------------------------------------------


def _refuse(marker: str, status: int) -> Callable[[Received], tuple[int, dict[str, str], str]]:
    def respond(request: Received) -> tuple[int, dict[str, str], str]:
        return (status, {}, "no") if marker in request.body.decode() else (200, {}, "ok")

    return respond


def test_a_message_the_receiver_refuses_is_set_aside_and_the_next_flows(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    stand_in.respond = _refuse("CAbad", 400)
    webhook(database_url, stand_in.url)
    run_dispatcher(database_url, notify_quiet_seconds=0.0)
    record(database_url, call_record("CAbad"))
    record(database_url, call_record("CAgood"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the next message")
    assert "CAgood" in stand_in.accepted()[0].body.decode()
    # Refused once is refused: not tried again.
    assert sum("CAbad" in item.body.decode() for item in stand_in.received) == 1

    shown = json.loads(channels_list(database_url, "--json"))[0]
    assert shown["dead"] == 1 and shown["failing"] is None
    assert shown["last_dead_reason"].startswith("400")
    assert "GIVEN UP: 1 notification(s)" in channels_list(database_url)


def test_a_message_that_keeps_failing_is_given_up_after_the_bounded_attempts(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    stand_in.respond = _refuse("CAbad", 500)
    webhook(database_url, stand_in.url)
    run_dispatcher(database_url, notify_quiet_seconds=0.0, notify_max_attempts=3)
    record(database_url, call_record("CAbad"))
    record(database_url, call_record("CAgood"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the message behind it")
    assert "CAgood" in stand_in.accepted()[0].body.decode()
    assert sum("CAbad" in item.body.decode() for item in stand_in.received) == 3
    shown = json.loads(channels_list(database_url, "--json"))[0]
    assert shown["dead"] == 1
    assert shown["last_dead_reason"].startswith("500")


@pytest.mark.parametrize("asked", ["86400", "Thu, 01 Jan 2099 00:00:00 GMT"])
def test_retry_after_is_capped_at_the_retry_maximum(
    database_url: str,
    stand_in: StandIn,
    run_dispatcher: Callable[..., Dispatcher],
    asked: str,
) -> None:
    """A receiver cannot park a channel for a day (or a century) with one header: the wait is
    the retry maximum (0.2 s here) at most, so the retry comes well inside this test's bound."""
    stand_in.answers = [(429, {"Retry-After": asked}, "slow down")]
    slack(database_url, stand_in.url)
    run_dispatcher(database_url, notify_retry_max_seconds=0.2)
    record(database_url, call_record("CAwait"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the retry")
    assert [item.status for item in stand_in.received] == [429, 200]


def test_worker_once_counts_what_it_gave_up(
    sqlite_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    from tests.support import run_backline

    stand_in.respond = _refuse("CAbad", 400)
    webhook(sqlite_url, stand_in.url)
    record(sqlite_url, call_record("CAbad"))
    env = {
        **os.environ,
        "BACKLINE_DATABASE_URL": sqlite_url,
        "BACKLINE_STATE_DIR": str(tmp_path / "state"),
    }
    result = run_backline("worker", "--once", env=env)
    assert result.returncode == 0, result.stderr
    assert "sent=0 notifications=0 retrying=0 given_up=1 stopped=0" in result.stdout
