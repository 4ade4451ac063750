"""Each channel's transport against a real receiver on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
import trustme
from aiosmtpd.controller import Controller

from backline.config import Config
from backline.core.messages import CallEvent, Message, call_message
from backline.notify.channels import ChannelSpec, DeliveryError
from backline.notify.channels.kinds import transport_for
from backline.notify.channels.slack import blocks, escape
from backline.notify.channels.sms import SMS_MAX
from tests.standins import StandIn

EVENT = CallEvent(
    "diverted",
    "CA1",
    "+81312345678",
    "+819011112222",
    "A<b>&c",
    ("+81900",),
    "2026-11-24T05:00:00Z",
    "route",
    "12100",
    "https://p.example.com/x",
)
MESSAGE = call_message(EVENT, ZoneInfo("Asia/Tokyo"), "ja")


def config(**changes: Any) -> Config:
    values: dict[str, Any] = {
        "notify_send_timeout_seconds": 2.0,
        "twilio_account_sid": "AC123",
        "twilio_auth_token": "token",
        "allow_private_channels": True,  # the stand-ins listen on 127.0.0.1
    }
    return Config(**{**values, **changes})


def send(spec: ChannelSpec, settings: Config, message: Message = MESSAGE) -> str:
    return transport_for(spec, settings).send(message, "CA1:diverted@1#1")


# --- Slack ----------------------------------------------------------------------------------


def test_slack_gets_block_kit_with_a_plain_text_fallback(stand_in: StandIn) -> None:
    receipt = send(ChannelSpec(1, "slack", stand_in.url + "/services/T/B/X"), config())
    assert receipt == "200 ok"
    body = stand_in.received[0].json()
    assert body["text"] == escape(MESSAGE.text)
    assert body["blocks"] == blocks(MESSAGE)
    assert stand_in.received[0].path == "/services/T/B/X"


def test_block_kit_escapes_markup_and_respects_limits() -> None:
    long = Message("summary", "x" * 400, tuple("line" for _ in range(2000)))
    layout = blocks(long)
    assert len(layout[0]["text"]["text"]) == 150
    assert len(layout[1]["text"]["text"]) <= 3000
    fields = blocks(MESSAGE)[1]["fields"]
    assert len(fields) <= 10
    assert all("<b>" not in field["text"] for field in fields)


@pytest.mark.parametrize(
    ("answer", "permanent", "rejected", "retry_after"),
    [
        ((500, {}, "internal"), False, False, None),
        ((503, {}, ""), False, False, None),
        ((429, {"Retry-After": "7"}, "rate_limited"), False, False, 7.0),
        ((404, {}, "no_service"), True, False, None),
        ((403, {}, "invalid_token"), True, False, None),
        ((410, {}, "channel_is_archived"), True, False, None),
        # This message cannot be taken; the webhook itself works.
        ((400, {}, "invalid_payload"), False, True, None),
    ],
)
def test_slack_failures_are_classified(
    stand_in: StandIn,
    answer: tuple[int, dict[str, str], str],
    permanent: bool,
    rejected: bool,
    retry_after: float | None,
) -> None:
    stand_in.default = answer
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(1, "slack", stand_in.url), config())
    assert caught.value.permanent is permanent
    assert caught.value.rejected is rejected
    assert caught.value.retry_after == retry_after
    assert str(answer[0]) in caught.value.detail
    assert len(stand_in.received) == 1  # no hidden retry inside the transport


def test_a_receiver_that_never_answers_times_out(stand_in: StandIn) -> None:
    stand_in.default = "hang"
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(1, "slack", stand_in.url), config(notify_send_timeout_seconds=0.3))
    assert not caught.value.permanent


def test_nothing_listening_is_a_temporary_failure() -> None:
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(1, "slack", "http://127.0.0.1:9/hook"), config())
    assert not caught.value.permanent


# --- webhook --------------------------------------------------------------------------------


def test_webhooks_are_signed_so_the_receiver_can_verify_them(stand_in: StandIn) -> None:
    secret = "s3cret"
    send(ChannelSpec(2, "webhook", stand_in.url, options={"secret": secret}), config())
    request = stand_in.received[0]
    timestamp = request.headers["x-backline-timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-backline-signature"] == f"v1={expected}"
    assert request.headers["x-backline-delivery"] == "CA1:diverted@1#1"
    body = request.json()
    assert body["type"] == "call.diverted"
    assert body["data"]["to"] == "+81312345678"
    assert body["text"] == MESSAGE.text
    wrong = hmac.new(b"other", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-backline-signature"] != f"v1={wrong}"


def test_a_webhook_that_moved_is_not_followed(stand_in: StandIn) -> None:
    stand_in.default = (301, {"Location": "http://127.0.0.1:9/elsewhere"}, "")
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(2, "webhook", stand_in.url, options={"secret": "x"}), config())
    assert caught.value.permanent


# --- SMS through the Messages API -----------------------------------------------------------


def test_sms_posts_to_the_messages_api(stand_in: StandIn) -> None:
    stand_in.default = (
        201,
        {"Content-Type": "application/json"},
        '{"sid": "SM123", "status": "queued"}',
    )
    spec = ChannelSpec(3, "sms", "+819055556666", options={"from": "+815011112222"})
    receipt = send(spec, config(twilio_api_url=stand_in.url))
    assert receipt == "201 SM123 queued"
    request = stand_in.received[0]
    assert request.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:token").decode()
    form = parse_qs(request.body.decode())
    assert form["To"] == ["+819055556666"]
    assert form["From"] == ["+815011112222"]
    assert form["Body"][0].startswith("転送発生")
    assert len(form["Body"][0]) <= SMS_MAX


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [
        ((400, {}, '{"code": 21211, "message": "Invalid To", "status": 400}'), True),
        ((401, {}, '{"code": 20003, "message": "Authenticate", "status": 401}'), True),
        ((429, {"Retry-After": "2"}, '{"code": 20429, "status": 429}'), False),
        ((500, {}, "oops"), False),
    ],
)
def test_sms_failures_are_classified(
    stand_in: StandIn, answer: tuple[int, dict[str, str], str], permanent: bool
) -> None:
    stand_in.default = answer
    spec = ChannelSpec(3, "sms", "+819055556666")
    with pytest.raises(DeliveryError) as caught:
        send(spec, config(twilio_api_url=stand_in.url, sms_from="+815011112222"))
    assert caught.value.permanent is permanent


def test_sms_without_credentials_is_a_permanent_failure() -> None:
    settings = Config(twilio_api_url="http://127.0.0.1:9", sms_from="+815011112222")
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(3, "sms", "+819055556666"), settings)
    assert caught.value.permanent


# --- e-mail over SMTP with STARTTLS ---------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _smtp(tls: ssl.SSLContext | None, require: bool) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), tls_context=tls, require_starttls=require
    )
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp_server(authority: trustme.CA) -> Iterator[tuple[int, Inbox]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    controller, inbox = _smtp(context, True)
    yield int(controller.port), inbox
    controller.stop()


def test_email_goes_out_over_starttls(
    smtp_server: tuple[int, Inbox], authority: trustme.CA, tmp_path: Path
) -> None:
    port, inbox = smtp_server
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    settings = config(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="backline@example.com",
        smtp_ca_file=str(ca_file),
    )
    receipt = send(ChannelSpec(4, "email", "oncall@example.com"), settings)
    assert "oncall@example.com" in receipt
    envelope = inbox.messages[0]
    assert envelope.rcpt_tos == ["oncall@example.com"]
    content = envelope.content.decode()
    assert "Subject:" in content
    assert "X-Backline-Delivery: CA1:diverted@1#1" in content


def test_email_refuses_a_certificate_it_cannot_trust(smtp_server: tuple[int, Inbox]) -> None:
    port, inbox = smtp_server
    settings = config(smtp_host="127.0.0.1", smtp_port=port, smtp_from="backline@example.com")
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(4, "email", "oncall@example.com"), settings)
    assert caught.value.permanent
    assert inbox.messages == []


def test_email_refuses_a_server_without_starttls() -> None:
    controller, inbox = _smtp(None, False)
    try:
        port = int(controller.port)
        settings = config(smtp_host="127.0.0.1", smtp_port=port, smtp_from="b@example.com")
        with pytest.raises(DeliveryError) as caught:
            send(ChannelSpec(4, "email", "oncall@example.com"), settings)
        assert caught.value.permanent
        assert "STARTTLS" in caught.value.detail
        assert inbox.messages == []
    finally:
        controller.stop()


def test_email_to_nowhere_is_temporary() -> None:
    settings = config(smtp_host="127.0.0.1", smtp_port=9, smtp_from="b@example.com")
    with pytest.raises(DeliveryError) as caught:
        send(ChannelSpec(4, "email", "oncall@example.com"), settings)
    assert not caught.value.permanent


def test_every_kind_in_the_table_has_a_module_that_sends_and_says_what_it_needs() -> None:
    from backline.notify.channels.kinds import KINDS, missing_settings

    assert list(KINDS) == ["slack", "sms", "email", "webhook"]
    for name, kind in KINDS.items():
        spec = ChannelSpec(1, name, kind.check(_SAMPLE_TARGETS[name], False))
        assert callable(kind.module.transport)
        assert isinstance(missing_settings(spec, Config.from_env({})), tuple)
        assert hasattr(transport_for(spec, Config.from_env({})), "send")


_SAMPLE_TARGETS = {
    "slack": "https://hooks.slack.com/services/T0/B0/secret",
    "sms": "+81312345678",
    "email": "oncall@example.com",
    "webhook": "https://example.com/hook/secret",
}


def test_targets_marked_secret_in_the_table_are_shown_by_their_host_only() -> None:
    from backline.notify.channels import describe, redacted
    from backline.notify.channels.kinds import KINDS

    for name, kind in KINDS.items():
        spec = ChannelSpec(3, name, _SAMPLE_TARGETS[name])
        if kind.secret_target:
            assert redacted(spec) == "hooks.slack.com" or redacted(spec) == "example.com"
            assert "secret" not in describe(spec)
        else:
            assert redacted(spec) == _SAMPLE_TARGETS[name]
    # A kind the table does not know is not trusted to be harmless.
    assert redacted(ChannelSpec(4, "pager", "https://pager.example/secret")) == "pager.example"


def test_an_unknown_kind_is_refused_when_added_and_fails_for_good_when_sent() -> None:
    from backline.core.validation import InvalidValue
    from backline.notify.channels.kinds import check_target

    with pytest.raises(InvalidValue, match="slack, sms, email, webhook"):
        check_target("pager", "x")
    with pytest.raises(DeliveryError) as caught:
        transport_for(ChannelSpec(4, "pager", "x"), Config.from_env({}))
    assert caught.value.permanent
