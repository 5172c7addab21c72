"""Which IP addresses a user-given URL may reach, and the numeric IPv4 forms browsers accept.

Pure functions, no I/O. The tables are explicit (IANA special-purpose registries, RFC 6890
and successors) rather than ``ipaddress``'s ``is_private``/``is_global``, whose answers
changed between Python patch releases.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from bazaar.kernel.ssrf.errors import AddressCategory

__all__ = ["IPAddress", "classify_address", "embedded_ipv4", "parse_ipv4_host"]

IPAddress = IPv4Address | IPv6Address

_C = AddressCategory

# Instance metadata services: AWS/GCP/Azure/OCI (169.254.169.254), AWS ECS and EKS pod
# identity (169.254.170.2, 169.254.170.23), Alibaba (100.100.100.200), Oracle's legacy
# endpoint (192.0.0.192), AWS over IPv6 (fd00:ec2::254, fd00:ec2::23). Each is inside a
# refused range anyway; naming them gives logs the sharper category.
_METADATA: frozenset[IPAddress] = frozenset(
    {
        IPv4Address("169.254.169.254"),
        IPv4Address("169.254.170.2"),
        IPv4Address("169.254.170.23"),
        IPv4Address("100.100.100.200"),
        IPv4Address("192.0.0.192"),
        IPv6Address("fd00:ec2::254"),
        IPv6Address("fd00:ec2::23"),
    }
)


def _table(*rows: tuple[str, AddressCategory]) -> tuple[tuple[IPv4Network | IPv6Network, _C], ...]:
    return tuple((ip_network(cidr), category) for cidr, category in rows)


# First match wins, so narrower networks come before the ones containing them.
_IPV4 = _table(
    ("0.0.0.0/8", _C.UNSPECIFIED),  # "this network"; 0.0.0.0 reaches the local host on Linux
    ("10.0.0.0/8", _C.PRIVATE),
    ("100.64.0.0/10", _C.SHARED),
    ("127.0.0.0/8", _C.LOOPBACK),
    ("169.254.0.0/16", _C.LINK_LOCAL),
    ("172.16.0.0/12", _C.PRIVATE),
    ("192.0.0.0/24", _C.RESERVED),  # IETF protocol assignments
    ("192.0.2.0/24", _C.DOCUMENTATION),
    ("192.88.99.0/24", _C.TRANSITION),  # 6to4 relay anycast (deprecated, RFC 7526)
    ("192.168.0.0/16", _C.PRIVATE),
    ("198.18.0.0/15", _C.BENCHMARKING),
    ("198.51.100.0/24", _C.DOCUMENTATION),
    ("203.0.113.0/24", _C.DOCUMENTATION),
    ("224.0.0.0/4", _C.MULTICAST),
    ("240.0.0.0/4", _C.RESERVED),  # includes the broadcast 255.255.255.255
)

_IPV6 = _table(
    ("::/128", _C.UNSPECIFIED),
    ("::1/128", _C.LOOPBACK),
    ("64:ff9b:1::/48", _C.TRANSITION),  # local-use NAT64 (RFC 8215): translates to anywhere
    ("100::/64", _C.RESERVED),  # discard-only
    ("2001::/32", _C.TRANSITION),  # Teredo: a tunnel to an IPv4 host of the sender's choice
    ("2001::/23", _C.RESERVED),  # IETF protocol assignments (benchmarking, ORCHID, ...)
    ("2001:db8::/32", _C.DOCUMENTATION),
    ("2002::/16", _C.TRANSITION),  # 6to4 (deprecated): embeds an arbitrary IPv4 host
    ("3fff::/20", _C.DOCUMENTATION),
    ("5f00::/16", _C.RESERVED),  # SRv6 SIDs
    ("fc00::/7", _C.PRIVATE),  # unique local
    ("fe80::/10", _C.LINK_LOCAL),
    ("fec0::/10", _C.PRIVATE),  # site-local (deprecated)
    ("ff00::/8", _C.MULTICAST),
)

# Only global unicast is reachable on the internet; the rest of the IPv6 space is reserved.
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_MAPPED = IPv6Network("::ffff:0:0/96")  # IPv4-mapped: the socket talks IPv4 to the embedded host
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_NAT64 = IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_COMPATIBLE = IPv6Network("::/96")  # IPv4-compatible (deprecated, RFC 4291)


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 host an IPv6 address stands for: IPv4-mapped, -translated, -compatible or
    well-known NAT64; None if it embeds none (``::`` and ``::1`` are IPv6's own)."""
    if address in _MAPPED or address in _TRANSLATED or address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _COMPATIBLE and int(address) > 1:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def classify_address(address: IPAddress) -> AddressCategory | None:
    """Why ``address`` may not be reached, or None for a public unicast address.

    An IPv6 address that embeds an IPv4 host (``::ffff:127.0.0.1``, ``64:ff9b::a00:1``) is
    judged by that host; deprecated IPv4-compatible forms are refused even for public hosts.

    Args:
        address: The address a URL's host is or resolves to.

    Returns:
        The refused category, or None if the address is public.
    """
    if address in _METADATA:
        return _C.METADATA
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            return _C.LINK_LOCAL  # a zone only makes sense for a link-local or local address
        embedded = embedded_ipv4(address)
        if embedded is not None:
            category = classify_address(embedded)
            if category is None and address in _COMPATIBLE:
                return _C.RESERVED
            return category
        for network, category in _IPV6:
            if address in network:
                return category
        return None if address in _GLOBAL_UNICAST else _C.RESERVED
    for network, category in _IPV4:
        if address in network:
            return category
    return None


# WHATWG URL Standard, "ends in a number": a host whose last label is numeric is an IPv4
# address, in any of the forms inet_aton accepts (https://url.spec.whatwg.org/#ends-in-a-number-checker).
_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")


def _number(part: str) -> int | None:
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not _DECIMAL.fullmatch(part):
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def parse_ipv4_host(host: str) -> IPv4Address | None:
    """Read a host the way browsers and ``inet_aton`` do: ``2130706433``, ``0x7f.1``,
    ``0177.0.0.1`` and ``127.1`` all mean ``127.0.0.1``.

    Args:
        host: A URL's host, without brackets.

    Returns:
        The address, or None if the host is a name (its last label is not numeric).

    Raises:
        ValueError: If the host looks numeric but is not a valid IPv4 address
            (``1.2.3.4.5``, ``256.1.1.1``, ``example.08``).
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not (_DECIMAL.fullmatch(last) or _HEX.fullmatch(last)):
        return None
    if len(parts) > 4:
        raise ValueError(f"too many parts in IPv4 host {host!r}")
    numbers = [_number(part) for part in parts]
    if any(n is None for n in numbers):
        raise ValueError(f"invalid number in IPv4 host {host!r}")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError(f"IPv4 host {host!r} out of range")
    result = values[-1]
    for index, n in enumerate(values[:-1]):
        result += n << (8 * (3 - index))
    return IPv4Address(result)
