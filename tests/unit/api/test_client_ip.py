"""The client address: the socket peer, or X-Forwarded-For only from a trusted proxy."""

from __future__ import annotations

from typing import Any

import pytest

from bazaar.api.client_ip import ClientIpResolver


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 50_000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


class TestClientIpResolver:
    def test_without_trusted_proxies_the_peer_is_the_client(self) -> None:
        resolver = ClientIpResolver()
        assert resolver.resolve(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"

    def test_an_untrusted_peer_cannot_claim_an_address(self) -> None:
        resolver = ClientIpResolver(["10.0.0.0/8"])
        assert resolver.resolve(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"

    def test_a_trusted_proxy_forwards_the_client(self) -> None:
        resolver = ClientIpResolver(["10.0.0.0/8"])
        assert resolver.resolve(scope("10.1.2.3", "198.51.100.1")) == "198.51.100.1"

    def test_the_rightmost_untrusted_hop_wins_over_what_the_client_wrote(self) -> None:
        # The client wrote "1.1.1.1"; our edge proxy appended the address it really saw.
        resolver = ClientIpResolver(["10.0.0.0/8"])
        header = "1.1.1.1, 198.51.100.1, 10.0.0.5"
        assert resolver.resolve(scope("10.1.2.3", header)) == "198.51.100.1"

    def test_repeated_headers_are_read_as_one_list(self) -> None:
        resolver = ClientIpResolver(["10.0.0.0/8"])
        assert resolver.resolve(scope("10.1.2.3", "1.1.1.1", "198.51.100.1")) == "198.51.100.1"

    def test_ipv6_is_normalized(self) -> None:
        resolver = ClientIpResolver(["::1"])
        assert resolver.resolve(scope("::1", "2001:DB8:0:0::1")) == "2001:db8::1"

    def test_a_trusted_peer_without_the_header_is_itself_the_client(self) -> None:
        resolver = ClientIpResolver(["10.0.0.0/8"])
        assert resolver.resolve(scope("10.1.2.3")) == "10.1.2.3"

    def test_an_unknown_peer_is_named_so(self) -> None:
        assert ClientIpResolver().resolve(scope(None)) == "unknown"

    def test_refuses_a_malformed_network(self) -> None:
        with pytest.raises(ValueError, match="proxy"):
            ClientIpResolver(["proxy.internal"])
