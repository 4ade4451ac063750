"""Slack (and Mattermost) incoming webhooks: Block Kit with a plain-text fallback.

Slack answers 200 ``ok``; 400/403/404/410 with a reason (``invalid_payload``, ``invalid_token``,
``no_service``, ``channel_is_archived``) when the webhook cannot work any more; 429 with
``Retry-After`` when posted to more than once a second. Mattermost takes the same payload and
ignores the blocks, showing ``text``.
"""

from __future__ import annotations

import logging
from typing import Any

from backline.config import Config
from backline.core.messages import Message
from backline.notify.channels import ChannelSpec, DeliveryError, HttpAnswer, check_http_answer

__all__ = ["SlackTransport", "blocks"]

# The SDK logs each failed POST at ERROR itself ("Failed to send a request to Slack API
# server"), and at DEBUG the webhook URL, which is a secret. backline says what happened to a
# delivery once, in its own words and at the level it deserves (an ordinary retry is a
# WARNING), so the SDK gets a logger of its own that lets nothing through.
_SDK_LOG = logging.getLogger("backline.notify.slack_sdk")
_SDK_LOG.setLevel(logging.CRITICAL + 1)
_SDK_LOG.propagate = False

# Block Kit limits: a header holds 150 characters, a section 3,000, at most 10 fields.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELDS_MAX = 10


def _escape(text: str) -> str:
    # mrkdwn treats &, < and > as markup; a caller ID or client name must not become a link.
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
            {"type": "mrkdwn", "text": f"*{_escape(label)}*\n{_escape(value)}"[:2000]}
            for label, value in message.facts[:_FIELDS_MAX]
        ]
        layout.append({"type": "section", "fields": fields})
    elif message.lines:
        text = "\n".join(_escape(line) for line in message.lines)[:_SECTION_MAX]
        layout.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    layout.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"backline · {message.kind}"}]}
    )
    return layout


class SlackTransport:
    def __init__(self, spec: ChannelSpec, config: Config) -> None:
        self.url = spec.target
        self.timeout = config.notify_send_timeout_seconds

    def send(self, message: Message, delivery_id: str) -> str:
        from slack_sdk.webhook import WebhookClient

        # No retry handlers: a retry is the dispatcher's decision (with backoff, pacing and
        # the record of what was sent), never a hidden second POST.
        client = WebhookClient(
            self.url,
            timeout=self.timeout,  # type: ignore[arg-type]
            retry_handlers=[],
            logger=_SDK_LOG,
        )
        try:
            response = client.send(text=message.text, blocks=blocks(message))
        except OSError as error:  # URLError, timeouts, refused connections
            reason = getattr(error, "reason", error)
            raise DeliveryError(f"no answer from Slack: {reason}") from None
        headers = {
            str(k): str(v[0] if isinstance(v, list) else v)
            for k, v in (response.headers or {}).items()
        }
        answer = HttpAnswer(response.status_code, headers, str(response.body or ""))
        return check_http_answer(answer)
