"""The channel contract: one module per kind of receiver, each behind :class:`Transport`, and
one row for each in the table of kinds (:mod:`backline.notify.channels.kinds`).

``send(message, delivery_id)`` either returns what the receiver answered (a short receipt,
kept as the channel's last result and shown by ``backline channels test``) or raises
:class:`DeliveryError`, which says what a retry can do: nothing until someone fixes the channel
(``permanent``), nothing for this message though the next may pass (``rejected``), or perhaps
succeed later (neither; ``retry_after`` when the receiver said when).

Heavy or optional libraries (smtplib) are imported inside each module's ``send``: this
package is imported by the dispatcher, which ``backline serve`` loads, and nothing here may
slow down or endanger the answer path; this module itself stays light, so that the CLI reads the
table of kinds for its help at no cost. Slack, webhooks and SMS share
:func:`backline.notify.channels.http.post` (one POST, no redirect followed, the receiver's
address checked, a bounded read) rather than an SDK whose client follows redirects and reads
answers whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    from backline.core.messages import Message

__all__ = [
    "ChannelSpec",
    "DeliveryError",
    "Transport",
    "ascii_header_value",
    "describe",
    "header_value",
    "redacted",
]


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
    """The target as it may be shown (the table of kinds says which targets are secrets)."""
    from backline.notify.channels.kinds import redacted as shown

    return shown(spec)


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
