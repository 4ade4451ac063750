"""The HTTP POST that Slack, webhooks and SMS share: one POST, no redirect followed, the
receiver's address checked, a bounded read; and what an answer's status means for a retry."""

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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backline.core.addresses import refused_address
from backline.notify.channels import DeliveryError

__all__ = ["HttpAnswer", "check_http_answer", "post", "retry_after_seconds"]

USER_AGENT = "backline-notify/1"


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
