"""Slack (and Mattermost) incoming webhooks: Block Kit with a plain-text fallback.

Slack answers 200 ``ok``; 400 ``invalid_payload`` for a message it cannot take; 403/404/410
with a reason (``invalid_token``, ``no_service``, ``channel_is_archived``) when the webhook
cannot work any more; 429 with ``Retry-After`` when posted to more than once a second.
Mattermost takes the same payload and ignores the blocks, showing ``text``.

The payload is one JSON POST, sent with the shared :func:`post`: no retry inside, no redirect
followed, the receiver's address checked, at most 64 KiB of the answer read.
"""

from __future__ import annotations

import json
from typing import Any

from backline.config import Config
from backline.core.messages import Message
from backline.notify.channels import ChannelSpec, Transport
from backline.notify.channels.http import check_http_answer, post

__all__ = ["SlackTransport", "blocks", "escape", "missing_settings", "payload", "transport"]

# Block Kit limits: a header holds 150 characters, a section 3,000, at most 10 fields.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELDS_MAX = 10


def escape(text: str) -> str:
    """Text that Slack shows as written: ``&``, ``<`` and ``>`` are its control characters
    (``<!channel>``, ``<https://…|label>``), and the three are all it asks to be escaped.

    Used for every mrkdwn text, the message's top-level ``text`` included; a ``plain_text``
    object (the header) is never parsed, so it is left as it is.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(message: Message) -> list[dict[str, Any]]:
    """The Block Kit layout: a header, the facts as fields (or the lines), a context line."""
    layout: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": message.title[:_HEADER_MAX], "emoji": False},
        },
    ]
    if message.facts:
        fields = [
            {"type": "mrkdwn", "text": f"*{escape(label)}*\n{escape(value)}"[:2000]}
            for label, value in message.facts[:_FIELDS_MAX]
        ]
        layout.append({"type": "section", "fields": fields})
    elif message.lines:
        text = "\n".join(escape(line) for line in message.lines)[:_SECTION_MAX]
        layout.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    layout.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"backline · {message.kind}"}]}
    )
    return layout


def payload(message: Message) -> dict[str, Any]:
    """What is posted: the blocks, and the escaped text that notifications and Mattermost show."""
    return {"text": escape(message.text), "blocks": blocks(message)}


class SlackTransport:
    def __init__(self, spec: ChannelSpec, config: Config) -> None:
        self.url = spec.target
        self.timeout = config.notify_send_timeout_seconds
        self.check_address = not config.allow_private_channels

    def send(self, message: Message, delivery_id: str) -> str:
        body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":"))
        answer = post(
            self.url,
            body.encode("utf-8"),
            {"Content-Type": "application/json; charset=utf-8"},
            self.timeout,
            check_address=self.check_address,
        )
        return check_http_answer(answer)


def missing_settings(_spec: ChannelSpec, _config: Config) -> tuple[str, ...]:
    """Nothing: the URL says everything a slack channel needs."""
    return ()


def transport(spec: ChannelSpec, config: Config) -> Transport:
    return SlackTransport(spec, config)
