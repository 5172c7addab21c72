"""The SSRF guard (capabilities §13.3): user-given URLs are checked, resolved once and pinned.

``check_url`` refuses unsafe schemes, userinfo, odd IP forms and any host that is or
resolves to a non-public address (unless allow-listed for development), and returns a
``SafeTarget``; ``pinned_transport(target)`` sends the request to exactly those addresses.
"""

from __future__ import annotations

from bazaar.kernel.ssrf.addresses import IPAddress, classify_address, parse_ipv4_host
from bazaar.kernel.ssrf.errors import AddressCategory, SsrfError, UnsafeReason, UnsafeUrlError
from bazaar.kernel.ssrf.guard import SafeTarget, check_url
from bazaar.kernel.ssrf.policy import SsrfPolicy
from bazaar.kernel.ssrf.ports import Resolver
from bazaar.kernel.ssrf.resolvers import StaticResolver, SystemResolver
from bazaar.kernel.ssrf.transport import PinnedNetworkBackend, PinnedTransport, pinned_transport

__all__ = [
    "AddressCategory",
    "IPAddress",
    "PinnedNetworkBackend",
    "PinnedTransport",
    "Resolver",
    "SafeTarget",
    "SsrfError",
    "SsrfPolicy",
    "StaticResolver",
    "SystemResolver",
    "UnsafeReason",
    "UnsafeUrlError",
    "check_url",
    "classify_address",
    "parse_ipv4_host",
    "pinned_transport",
]
