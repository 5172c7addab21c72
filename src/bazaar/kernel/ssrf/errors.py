"""Errors raised by the SSRF guard.

    KernelError                     (bazaar.kernel.errors)
    └── SsrfError
        └── UnsafeUrlError          a user-given URL may not be fetched; ``reason`` says why

``UnsafeUrlError.reason`` is machine-readable (``UnsafeReason``) so the API can answer a 422
problem on the field ``url`` without parsing messages. ``address`` and ``category`` say
which resolved address was refused and why; they are for logs, not for the response body
(echoing resolved internal addresses back would turn the guard into a DNS oracle).
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address, IPv6Address

from bazaar.kernel.errors import KernelError

__all__ = ["AddressCategory", "SsrfError", "UnsafeReason", "UnsafeUrlError"]


class UnsafeReason(enum.StrEnum):
    """Why a URL was refused."""

    MALFORMED = "malformed"  # not a plain absolute URL (bad host, port, IP form, characters)
    SCHEME = "scheme"  # the scheme is not allowed (ftp, file, gopher, ...)
    USERINFO = "userinfo"  # credentials in the URL (http://user:pw@host)
    PORT = "port"  # a port the policy does not allow
    UNRESOLVABLE = "unresolvable"  # the host did not resolve (or resolved to nothing)
    PRIVATE_ADDRESS = "private-address"  # the host is or resolves to a refused address
    UNPINNED = "unpinned"  # a pinned transport was asked to reach another origin


class AddressCategory(enum.StrEnum):
    """The kind of non-public address that was refused."""

    UNSPECIFIED = "unspecified"  # 0.0.0.0/8, ::
    LOOPBACK = "loopback"  # 127.0.0.0/8, ::1
    PRIVATE = "private"  # RFC 1918, fc00::/7, fec0::/10
    SHARED = "shared"  # carrier-grade NAT 100.64.0.0/10
    LINK_LOCAL = "link-local"  # 169.254.0.0/16, fe80::/10
    METADATA = "metadata"  # cloud instance metadata endpoints
    MULTICAST = "multicast"  # 224.0.0.0/4, ff00::/8
    DOCUMENTATION = "documentation"  # TEST-NETs, 2001:db8::/32, 3fff::/20
    BENCHMARKING = "benchmarking"  # 198.18.0.0/15
    TRANSITION = "transition"  # 6to4, Teredo, local-use NAT64: tunnels to unknown hosts
    RESERVED = "reserved"  # everything else special-purpose or not global unicast


class SsrfError(KernelError):
    """An error raised by the SSRF guard."""


class UnsafeUrlError(SsrfError):
    """A URL was refused; ``reason`` says why, ``address``/``category`` which address."""

    def __init__(
        self,
        url: str,
        reason: UnsafeReason,
        *,
        address: IPv4Address | IPv6Address | None = None,
        category: AddressCategory | None = None,
    ) -> None:
        detail = f" ({category})" if category is not None else ""
        super().__init__(f"refused URL: {reason}{detail}")
        self.url = url
        self.reason = reason
        self.address = address
        self.category = category
