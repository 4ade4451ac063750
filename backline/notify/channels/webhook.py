"""A generic JSON webhook, signed so the receiver can tell it came from this backline.

Each POST carries::

    X-Backline-Delivery:  <delivery id>   (the same on a retry: receivers can drop repeats)
    X-Backline-Timestamp: <unix seconds>
    X-Backline-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>

docs/notifications.md shows how to verify it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from backline.config import Config
from backline.core.messages import Message
from backline.notify.channels import ChannelSpec, Transport, ascii_header_value
from backline.notify.channels.http import check_http_answer, post

__all__ = ["WebhookTransport", "body_for", "missing_settings", "sign", "transport"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    )
    return "v1=" + digest.hexdigest()


def body_for(message: Message, delivery_id: str) -> bytes:
    value = {
        "id": delivery_id,
        "type": message.data.get("type", message.kind),
        "title": message.title,
        "text": message.text,
        "data": dict(message.data),
    }
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookTransport:
    def __init__(self, spec: ChannelSpec, config: Config) -> None:
        self.url = spec.target
        self.secret = str(spec.options.get("secret", ""))
        self.timeout = config.notify_send_timeout_seconds
        self.check_address = not config.allow_private_channels

    def send(self, message: Message, delivery_id: str) -> str:
        body = body_for(message, delivery_id)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            # The id carries a call SID, which is caller-supplied text: kept to printable
            # ASCII (the same id on every retry), so that no value can break the header.
            "X-Backline-Delivery": ascii_header_value(delivery_id),
            "X-Backline-Timestamp": timestamp,
        }
        if self.secret:
            headers["X-Backline-Signature"] = sign(self.secret, timestamp, body)
        answer = post(self.url, body, headers, self.timeout, check_address=self.check_address)
        return check_http_answer(answer)


def missing_settings(_spec: ChannelSpec, _config: Config) -> tuple[str, ...]:
    """Nothing: the URL says everything a webhook channel needs."""
    return ()


def transport(spec: ChannelSpec, config: Config) -> Transport:
    return WebhookTransport(spec, config)
