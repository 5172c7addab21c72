"""Who is the client? The socket peer, or ``X-Forwarded-For`` when the peer is a trusted proxy.

A client can write any ``X-Forwarded-For`` it likes, so believing it from anyone would let
each request claim a fresh address and dodge every per-IP limit. The header is read only
when the connection comes from a configured proxy, and then from the right: each trusted
hop appends the address it saw, so the first address from the right that is not itself a
trusted proxy is the client (the rule of MDN's "X-Forwarded-For: selecting an IP address").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["ClientIpResolver"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_UNKNOWN = "unknown"


class ClientIpResolver:
    """Finds the client address of an ASGI request."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        """Build a resolver.

        Args:
            trusted_proxies: IP addresses or CIDRs of the proxies in front of this server.

        Raises:
            ValueError: If an entry is not an address or a network.
        """
        self._trusted: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def resolve(self, scope: dict[str, Any] | Any) -> str:
        """The client's IP address as text (``"unknown"`` when the server was not told)."""
        client = scope.get("client")
        peer = client[0] if client else _UNKNOWN
        if not self._trusted or not self._is_trusted(peer):
            return str(peer)
        forwarded: list[str] = []
        for key, value in scope["headers"]:
            if key == b"x-forwarded-for":
                forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
        for hop in reversed(forwarded):
            if not hop:
                continue
            if not self._is_trusted(hop):
                return _normalized(hop)
        # Every hop was a proxy of ours (or there was no header): the nearest one is all we know.
        return forwarded[0] if forwarded and forwarded[0] else str(peer)


def _normalized(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        # Not an address (a proxy wrote garbage): keep it as a key of its own rather than
        # lumping every such client together with the proxy.
        return address[:64]
