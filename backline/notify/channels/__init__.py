"""The channel contract: one module per kind of receiver, each behind :class:`Transport`.

``send(message, delivery_id)`` either returns what the receiver answered (a short receipt,
kept as the channel's last result and shown by ``backline channels test``) or raises
:class:`DeliveryError`, which says what a retry can do: nothing until someone fixes the channel
(``permanent``), nothing for this message though the next may pass (``rejected``), or perhaps
succeed later (neither; ``retry_after`` when the receiver said when).

Heavy or optional libraries (smtplib) are imported inside each module's ``send``: this
package is imported by the dispatcher, which ``backline serve`` loads, and nothing here may
slow down or endanger the answer path. Slack and webhooks share :func:`post` (one POST, no
redirect followed, the receiver's address checked, a bounded read) rather than an SDK whose
client follows redirects and reads answers whole.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from backline.config import Config
from backline.core.addresses import refused_address
from backline.core.messages import Message

__all__ = [
    "KINDS",
    "ChannelSpec",
    "DeliveryError",
    "HttpAnswer",
    "Transport",
    "check_http_answer",
    "describe",
    "header_value",
    "missing_settings",
    "post",
    "retry_after_seconds",
    "transport_for",
]

KINDS = ("slack", "sms", "email", "webhook")

USER_AGENT = "backline-notify/1"


class DeliveryError(Exception):
    """A delivery failed.

    ``permanent``: the channel will fail again until someone changes something (a revoked
    webhook, a wrong password). ``rejected``: the receiver refused this message (a payload it
    cannot take); sending it again will not help, but the next message may pass.
    """

    def __init__(
        self,
        detail: str,
        *,
        permanent: bool = False,
        rejected: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.rejected = rejected
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
        return urlsplit(spec.target).hostname or "?"
    return spec.target


def header_value(text: str, limit: int = 998) -> str:
    """``text`` made fit for a mail or HTTP header: one line, printable, bounded.

    Caller-controlled text (a client name, a call SID) ends up in headers (a mail's subject,
    a webhook's delivery id); a line break there is refused by the libraries, or worse,
    starts a header of its own.
    """
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(cleaned.split())[:limit]


def ascii_header_value(text: str, limit: int = 200) -> str:
    """``text`` as a printable-ASCII header value, the same for the same text (receivers
    compare delivery ids): anything else is percent-encoded."""
    return quote(text, safe="!#$&'()*+,/:;=?@[]~")[:limit]


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
    # as what it is (the URL moved), so a person fixes the channel. (It would also lead past
    # the address check below, to wherever the receiver points.)
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RefusedAddress(OSError):
    """The receiver's name led to an address notifications may not go to."""


def _checked_connection(
    address: tuple[str, int], timeout: Any = None, source_address: Any = None
) -> socket.socket:
    # The address connected to is checked, not the one a lookup gave a moment before: a name
    # that resolves elsewhere on the second lookup (DNS rebinding) gains nothing. Nothing has
    # been sent yet, not even a TLS greeting.
    connection = socket.create_connection(address, timeout, source_address)
    peer = connection.getpeername()[0]
    reason = refused_address(ipaddress.ip_address(peer.split("%", 1)[0]))
    if reason is not None:
        connection.close()
        raise RefusedAddress(
            f"{address[0]} is {peer}, {reason}: notifications are not sent there "
            f"unless BACKLINE_ALLOW_PRIVATE_CHANNELS=1"
        )
    return connection


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self) -> None:
        super().__init__()
        self.tls = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req, context=self.tls)


# Any receiver; a proxy from the environment (HTTPS_PROXY) is used, and applies its own rules.
_OPENER = urllib.request.build_opener(_NoRedirect)
# A channel's URL without a proxy: the address connected to is checked.
_CHECKED_OPENER = urllib.request.build_opener(
    _NoRedirect,
    urllib.request.ProxyHandler({}),
    _CheckedHTTPHandler,
    _CheckedHTTPSHandler,
)


def _through_proxy(url: str) -> bool:
    parts = urlsplit(url)
    return bool(
        urllib.request.getproxies().get(parts.scheme)
        and not urllib.request.proxy_bypass(parts.hostname or "")
    )


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    *,
    check_address: bool = False,
) -> HttpAnswer:
    """POST once, never retrying by itself and never following a redirect; any HTTP status
    is returned, not raised.

    With ``check_address`` (a channel's URL, unless private channels are allowed) a receiver
    at a loopback, link-local or metadata address is refused with a permanent
    :class:`DeliveryError`. A network failure or a receiver that does not answer within
    ``timeout`` raises a transient one. At most 64 KiB of the answer is read.
    """
    if not url.lower().startswith(("https://", "http://")):
        # Channels are checked when added; this guards against a file: or ftp: URL anyway.
        # (The URL itself is not quoted: it may be a secret.)
        raise DeliveryError("the channel's URL is not an http(s) URL", permanent=True)
    request = urllib.request.Request(  # noqa: S310 (scheme checked just above)
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    opener = _CHECKED_OPENER if check_address and not _through_proxy(url) else _OPENER
    try:
        with opener.open(request, timeout=timeout) as response:
            text = response.read(65536).decode("utf-8", "replace")
            return HttpAnswer(response.status, dict(response.headers.items()), text)
    except urllib.error.HTTPError as error:
        text = error.read(65536).decode("utf-8", "replace") if error.fp else ""
        return HttpAnswer(error.code, dict(error.headers.items()), text)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, RefusedAddress):
            raise DeliveryError(str(reason), permanent=True) from None
        raise DeliveryError(f"no answer from the receiver: {reason}") from None
    except http.client.HTTPException as error:
        # A receiver that breaks the protocol (a malformed status line, a body cut short).
        # (A ValueError, a header value http.client refuses, is ours: it is not caught here,
        # and the dispatcher sets the message aside after a few tries.)
        raise DeliveryError(f"the receiver's answer was broken: {error!r}"[:300]) from None


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
# Statuses that say "not this message": Slack's 400 invalid_payload, a body too large, a
# payload the receiver cannot process. The channel works; this message never will.
_REJECTED = frozenset({400, 413, 422})


def check_http_answer(answer: HttpAnswer) -> str:
    """Return a receipt for a 2xx answer; raise :class:`DeliveryError` for anything else."""
    snippet = " ".join(answer.body.split())[:200]
    receipt = f"{answer.status} {snippet}".strip()
    if 200 <= answer.status < 300:
        return receipt
    retry_after = retry_after_seconds(answer.header("Retry-After"))
    if answer.status in _TRANSIENT or answer.status >= 500:
        raise DeliveryError(receipt, retry_after=retry_after)
    if answer.status in _REJECTED:
        raise DeliveryError(receipt, rejected=True)
    # 401/403 (token revoked), 404/410 (webhook or channel deleted), 3xx (moved): sending
    # anything again will not work.
    raise DeliveryError(receipt, permanent=True)
