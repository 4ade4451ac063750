"""The channel contract: one module per kind of receiver, each behind :class:`Transport`.

``send(message, delivery_id)`` either returns what the receiver answered (a short receipt,
kept as the channel's last result and shown by ``backline channels test``) or raises
:class:`DeliveryError`, which says whether trying again can help (``permanent``) and how long
the receiver asked us to wait (``retry_after``).

Heavy or optional libraries (slack_sdk, smtplib) are imported inside each module's ``send``:
this package is imported by the dispatcher, which ``backline serve`` loads, and nothing here
may slow down or endanger the answer path.
"""

from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from backline.config import Config
from backline.core.messages import Message

__all__ = [
    "KINDS",
    "ChannelSpec",
    "DeliveryError",
    "HttpAnswer",
    "Transport",
    "check_http_answer",
    "describe",
    "missing_settings",
    "post",
    "retry_after_seconds",
    "transport_for",
]

KINDS = ("slack", "sms", "email", "webhook")

USER_AGENT = "backline-notify/1"


class DeliveryError(Exception):
    """A delivery failed. ``permanent``: it will fail again until someone changes something."""

    def __init__(
        self, detail: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel as stored: what kind, where to, for which client, with which options."""

    id: int
    kind: str
    target: str
    label: str | None = None
    client: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    failing: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "label": self.label,
            "client": self.client,
            "options": dict(self.options),
            "failing": self.failing,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ChannelSpec:
        return cls(
            int(value["id"]),
            str(value["kind"]),
            str(value["target"]),
            value.get("label"),
            value.get("client"),
            dict(value.get("options") or {}),
            value.get("failing"),
        )


def describe(spec: ChannelSpec) -> str:
    """How a person recognises the channel in a message: ``#3 slack "ops" (Acme)``."""
    name = f'"{spec.label}"' if spec.label else redacted(spec)
    scope = f" ({spec.client})" if spec.client else ""
    return f"#{spec.id} {spec.kind} {name}{scope}"


def redacted(spec: ChannelSpec) -> str:
    # A webhook URL is a secret (anyone who has it can post); show only its host.
    if spec.kind in ("slack", "webhook"):
        from urllib.parse import urlsplit

        return urlsplit(spec.target).hostname or "?"
    return spec.target


class Transport(Protocol):
    def send(self, message: Message, delivery_id: str) -> str: ...


def transport_for(spec: ChannelSpec, config: Config) -> Transport:
    """The transport for one stored channel."""
    if spec.kind == "slack":
        from backline.notify.channels.slack import SlackTransport

        return SlackTransport(spec, config)
    if spec.kind == "sms":
        from backline.notify.channels.sms import SmsTransport

        return SmsTransport(spec, config)
    if spec.kind == "email":
        from backline.notify.channels.email import EmailTransport

        return EmailTransport(spec, config)
    if spec.kind == "webhook":
        from backline.notify.channels.webhook import WebhookTransport

        return WebhookTransport(spec, config)
    raise DeliveryError(f"unknown channel kind {spec.kind!r}", permanent=True)


def missing_settings(spec: ChannelSpec, config: Config) -> tuple[str, ...]:
    """The settings a channel of this kind needs that ``config`` lacks (none for the kinds
    whose target says everything: Slack and webhooks)."""
    match spec.kind:
        case "sms":
            from backline.notify.channels.sms import missing_settings as sms_needs

            return sms_needs(spec, config)
        case "email":
            from backline.notify.channels.email import missing_settings as email_needs

            return email_needs(spec, config)
        case _:
            return ()


# --- shared HTTP plumbing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: str

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A notification POST is not re-sent somewhere else behind our back: a redirect is reported
    # as what it is (the URL moved), so a person fixes the channel.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
    """POST once, never retrying by itself; any HTTP status is returned, not raised.

    A network failure or a receiver that does not answer within ``timeout`` raises a
    transient :class:`DeliveryError`.
    """
    if not url.lower().startswith(("https://", "http://")):
        # Channels are checked when added; this guards against a file: or ftp: URL anyway.
        raise DeliveryError(f"not an http(s) URL: {url!r}", permanent=True)
    request = urllib.request.Request(  # noqa: S310 (scheme checked just above)
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            text = response.read(65536).decode("utf-8", "replace")
            return HttpAnswer(response.status, dict(response.headers.items()), text)
    except urllib.error.HTTPError as error:
        text = error.read(65536).decode("utf-8", "replace") if error.fp else ""
        return HttpAnswer(error.code, dict(error.headers.items()), text)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"no answer from the receiver: {reason}") from None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


# Statuses that say "the receiver is there but busy or broken for now": try again later.
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


def check_http_answer(answer: HttpAnswer) -> str:
    """Return a receipt for a 2xx answer; raise :class:`DeliveryError` for anything else."""
    snippet = " ".join(answer.body.split())[:200]
    receipt = f"{answer.status} {snippet}".strip()
    if 200 <= answer.status < 300:
        return receipt
    retry_after = retry_after_seconds(answer.header("Retry-After"))
    if answer.status in _TRANSIENT or answer.status >= 500:
        raise DeliveryError(receipt, retry_after=retry_after)
    # 400 (bad URL or payload), 401/403 (token revoked), 404/410 (webhook or channel deleted),
    # 3xx (moved): sending the same again will not work.
    raise DeliveryError(receipt, permanent=True)
