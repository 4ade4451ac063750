"""The table of channel kinds: everything the rest of backline knows about a kind is its row.

A new kind of channel is one module in this package (its transport, and what it needs from the
environment) plus one row in :data:`KINDS`. Sending (:func:`transport_for`), checking a target
(:func:`check_target`), hiding secrets (:func:`redacted`) and the CLI's help all read the table.

A kind's module, ``backline/notify/channels/<name>.py``, is loaded only to send: it defines
``transport(spec, config)`` and ``missing_settings(spec, config)`` (see :class:`KindModule`).
The table itself is light, so the CLI's help reads it without loading HTTP or SMTP code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Protocol, cast
from urllib.parse import urlsplit

from backline.core import validation
from backline.core.addresses import refused_host
from backline.core.validation import InvalidValue

if TYPE_CHECKING:
    from backline.config import Config
    from backline.notify.channels import ChannelSpec, Transport

__all__ = [
    "KINDS",
    "ChannelKind",
    "ChannelOption",
    "KindModule",
    "check_target",
    "missing_settings",
    "redacted",
    "transport_for",
]


@dataclass(frozen=True, slots=True)
class ChannelOption:
    """One stored option of a kind: its key in the channel's options and its CLI flag.

    A ``secret`` option is shown by its last four characters unless secrets are asked for.
    """

    key: str
    flag: str
    help: str
    secret: bool = False


class KindModule(Protocol):
    """What a kind's module provides."""

    def transport(self, spec: ChannelSpec, config: Config) -> Transport: ...

    def missing_settings(self, spec: ChannelSpec, config: Config) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class ChannelKind:
    """One kind of channel.

    ``label``: how a sentence names it (``SMS needs ...``); ``target``: what the target is, for
    help; ``check``: the target, checked and cleaned (``allow_private`` lets a URL point at this
    host), raising :class:`InvalidValue`; ``secret_target``: whoever knows the target can post
    (a webhook URL), so only its host is shown; ``options``: what ``channels add`` may store
    besides the target. The transport is ``backline.notify.channels.<name>``.
    """

    name: str
    label: str
    target: str
    check: Callable[[str, bool], str]
    secret_target: bool
    options: tuple[ChannelOption, ...] = ()

    def option(self, key: str) -> ChannelOption | None:
        return next((option for option in self.options if option.key == key), None)

    @property
    def module(self) -> KindModule:
        """The kind's transport module, imported on first use."""
        return cast(KindModule, importlib.import_module(f"{__package__}.{self.name}"))


def _url(kind: str) -> Callable[[str, bool], str]:
    def check(target: str, allow_private: bool) -> str:
        url = validation.http_url(target, what=f"{kind} URL")
        host = urlsplit(url).hostname or ""
        reason = None if allow_private else refused_host(host)
        if reason is not None:
            raise InvalidValue(
                f"{kind} URL points at {host}, {reason}: notifications are not sent there; "
                f"set BACKLINE_ALLOW_PRIVATE_CHANNELS=1 for a receiver on this host"
            )
        return url

    return check


def _phone(target: str, _allow_private: bool) -> str:
    return validation.e164(target, what="phone number")


def _mail_address(target: str, _allow_private: bool) -> str:
    cleaned = target.strip()
    _name, address = parseaddr(cleaned)
    local, _, domain = address.partition("@")
    if not local or "." not in domain or address != cleaned:
        raise InvalidValue(
            f"e-mail address {target!r} is not an address such as oncall@example.com"
        )
    return cleaned


_ROWS = (
    ChannelKind(
        "slack",
        label="Slack",
        target="an incoming-webhook URL (Mattermost's works too)",
        check=_url("slack"),
        secret_target=True,
    ),
    ChannelKind(
        "sms",
        label="SMS",
        target="the phone number (+81...)",
        check=_phone,
        secret_target=False,
        options=(ChannelOption("from", "--from", "the Twilio number to send from."),),
    ),
    ChannelKind(
        "email",
        label="e-mail",
        target="the e-mail address",
        check=_mail_address,
        secret_target=False,
    ),
    ChannelKind(
        "webhook",
        label="webhook",
        target="the URL to POST signed JSON to",
        check=_url("webhook"),
        secret_target=True,
        options=(
            ChannelOption("secret", "--secret", "the signing secret (default: random).", True),
        ),
    ),
)

#: Every kind by name, in the order help lists them.
KINDS: Mapping[str, ChannelKind] = {row.name: row for row in _ROWS}


def check_target(kind: str, target: str, *, allow_private: bool = False) -> str:
    """The channel's address, checked for its kind; raises :class:`InvalidValue`.

    A URL to this machine, a link-local address or a cloud metadata service is refused unless
    ``allow_private`` (``BACKLINE_ALLOW_PRIVATE_CHANNELS=1``); see backline/core/addresses.py.
    """
    row = KINDS.get(kind)
    if row is None:
        raise InvalidValue(f"channel kind {kind!r} is not one of: {', '.join(KINDS)}")
    return row.check(target, allow_private)


def redacted(spec: ChannelSpec) -> str:
    """The target as it may be shown: a secret URL (anyone who has it can post) by its host."""
    row = KINDS.get(spec.kind)
    if row is None or row.secret_target:
        # An unknown kind's target is not known to be harmless: shown as a URL's host would be.
        return urlsplit(spec.target).hostname or "?"
    return spec.target


def transport_for(spec: ChannelSpec, config: Config) -> Transport:
    """The transport for one stored channel."""
    row = KINDS.get(spec.kind)
    if row is None:
        from backline.notify.channels import DeliveryError

        raise DeliveryError(f"unknown channel kind {spec.kind!r}", permanent=True)
    return row.module.transport(spec, config)


def missing_settings(spec: ChannelSpec, config: Config) -> tuple[str, ...]:
    """The settings a channel of this kind needs that ``config`` lacks (none for the kinds
    whose target says everything: Slack and webhooks)."""
    row = KINDS.get(spec.kind)
    return () if row is None else row.module.missing_settings(spec, config)
