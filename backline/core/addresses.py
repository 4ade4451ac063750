"""Where a notification may not be sent: this machine, link-local services, cloud metadata. Pure.

A channel's URL is chosen by whoever can add channels; the dispatcher then POSTs to it from
inside the network, with the server's own reach. Pointed at ``127.0.0.1``, ``169.254.169.254``
or a link-local neighbour it would become a way to reach services that trust their network
(the instance metadata service hands out credentials). Such URLs are refused when a channel is
added, and the address actually connected to is checked again before anything is sent (a name
may resolve elsewhere later). ``BACKLINE_ALLOW_PRIVATE_CHANNELS=1`` lifts the rule, for a
receiver on the same host (and the test suite's stand-ins on 127.0.0.1).

Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) stay allowed: a Mattermost or an
alerting gateway on the office network is an ordinary receiver.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["IpAddress", "refused_address", "refused_host"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services, by address: most are link-local anyway, but not all.
_METADATA_ADDRESSES: dict[IpAddress, str] = {
    ipaddress.ip_address("169.254.169.254"): "the cloud metadata service",
    ipaddress.ip_address("169.254.170.2"): "the ECS task metadata service",
    ipaddress.ip_address("fd00:ec2::254"): "the AWS metadata service (IPv6)",
    ipaddress.ip_address("100.100.100.200"): "the Alibaba Cloud metadata service",
}

# ... and by the names clouds give them (resolvable only inside those clouds).
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
)


def refused_address(address: IpAddress) -> str | None:
    """Why a notification may not go to ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address in _METADATA_ADDRESSES:
        return _METADATA_ADDRESSES[address]
    if address.is_loopback:
        return "this machine (loopback)"
    if address.is_unspecified:
        return "this machine (an unspecified address)"  # connecting to 0.0.0.0 reaches it
    if address.is_link_local:
        return "a link-local address"
    return None


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # The resolver also reads IPv4 in the old shorthand forms (127.1, 0x7f000001, 2130706433);
    # inet_aton parses exactly those, without asking any DNS.
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refused_host(host: str) -> str | None:
    """Why a URL's host is refused as written (an address or a well-known name), or None.

    Names are not resolved here: the address connected to is checked when sending.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "this machine (loopback)"
    if name in _METADATA_NAMES:
        return "the cloud metadata service"
    literal = _literal(name.split("%", 1)[0])  # fe80::1%eth0: the zone does not matter
    return refused_address(literal) if literal is not None else None
