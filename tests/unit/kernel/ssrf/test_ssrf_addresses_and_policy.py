"""The address tables, the numeric IPv4 reader and the policy of the SSRF guard."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ssrf import AddressCategory, SsrfPolicy, classify_address, parse_ipv4_host
from bazaar.kernel.ssrf.addresses import embedded_ipv4

C = AddressCategory


class TestClassifyAddress:
    @pytest.mark.parametrize(
        ("address", "category"),
        [
            ("0.0.0.0", C.UNSPECIFIED),
            ("10.255.255.255", C.PRIVATE),
            ("100.64.0.0", C.SHARED),
            ("100.127.255.255", C.SHARED),
            ("100.100.100.200", C.METADATA),
            ("127.0.0.1", C.LOOPBACK),
            ("127.255.255.254", C.LOOPBACK),
            ("169.254.169.254", C.METADATA),
            ("169.254.170.2", C.METADATA),
            ("169.254.0.1", C.LINK_LOCAL),
            ("172.31.255.255", C.PRIVATE),
            ("192.0.0.8", C.RESERVED),
            ("192.0.2.1", C.DOCUMENTATION),
            ("192.168.0.1", C.PRIVATE),
            ("198.18.0.1", C.BENCHMARKING),
            ("224.0.0.251", C.MULTICAST),
            ("240.0.0.1", C.RESERVED),
            ("255.255.255.255", C.RESERVED),
            ("::", C.UNSPECIFIED),
            ("::1", C.LOOPBACK),
            ("::ffff:10.0.0.1", C.PRIVATE),
            ("::ffff:0:127.0.0.1", C.LOOPBACK),
            ("::169.254.169.254", C.METADATA),
            ("::8.8.8.8", C.RESERVED),  # IPv4-compatible: deprecated, refused outright
            ("64:ff9b::127.0.0.1", C.LOOPBACK),
            ("64:ff9b:1::1", C.TRANSITION),
            ("100::1", C.RESERVED),
            ("2001::1", C.TRANSITION),
            ("2001:2::1", C.RESERVED),
            ("2001:db8::1", C.DOCUMENTATION),
            ("2002:c000:201::", C.TRANSITION),
            ("3fff::1", C.DOCUMENTATION),
            ("fc00::1", C.PRIVATE),
            ("fd00:ec2::254", C.METADATA),
            ("fe80::1", C.LINK_LOCAL),
            ("fe80::1%eth0", C.LINK_LOCAL),
            ("fec0::1", C.PRIVATE),
            ("ff02::1", C.MULTICAST),
            ("4000::1", C.RESERVED),  # outside global unicast 2000::/3
        ],
    )
    def test_non_public_addresses_are_classified(self, address: str, category: C) -> None:
        assert classify_address(ip_address(address)) is category

    @pytest.mark.parametrize(
        "address",
        [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:93.184.215.14",
            "64:ff9b::8.8.8.8",
        ],
    )
    def test_public_addresses_pass(self, address: str) -> None:
        assert classify_address(ip_address(address)) is None

    @given(st.integers(0, 2**32 - 1).map(IPv4Address))
    def test_an_ipv6_form_embedding_an_ipv4_host_is_judged_as_that_host(
        self, address: IPv4Address
    ) -> None:
        category = classify_address(address)
        mapped = IPv6Address(f"::ffff:{address}")
        nat64 = IPv6Address(f"64:ff9b::{address}")
        assert embedded_ipv4(mapped) == embedded_ipv4(nat64) == address
        assert classify_address(mapped) is category
        assert classify_address(nat64) is category


class TestParseIpv4Host:
    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("127.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("0x", "0.0.0.0"),
            ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
        ],
    )
    def test_reads_every_form_inet_aton_accepts(self, host: str, address: str) -> None:
        assert parse_ipv4_host(host) == IPv4Address(address)

    @pytest.mark.parametrize("host", ["example.com", "localhost", "1.example", "a1b2", "."])
    def test_names_are_not_addresses(self, host: str) -> None:
        assert parse_ipv4_host(host) is None

    @pytest.mark.parametrize(
        "host", ["256.0.0.1", "1.2.3.4.5", "4294967296", "08.0.0.1", "1..1", "example.08"]
    )
    def test_numeric_looking_hosts_that_are_no_address_are_errors(self, host: str) -> None:
        with pytest.raises(ValueError, match="IPv4 host"):
            parse_ipv4_host(host)

    @given(st.integers(0, 2**32 - 1))
    def test_decimal_hex_and_octal_integers_mean_the_same_address(self, n: int) -> None:
        expected = IPv4Address(n)
        assert parse_ipv4_host(str(n)) == expected
        assert parse_ipv4_host(hex(n)) == expected
        assert parse_ipv4_host("0" + format(n, "o")) == expected


class TestSsrfPolicy:
    def test_the_default_allows_http_and_https_on_any_port_and_nothing_private(self) -> None:
        policy = SsrfPolicy()
        assert policy.allowed_schemes == ("http", "https")
        assert policy.allows_port(8443)
        assert not policy.allows_host("localhost")
        assert not policy.allows_address(IPv4Address("127.0.0.1"))

    def test_allow_entries_are_hostnames_networks_or_bare_addresses(self) -> None:
        policy = SsrfPolicy(allow=("127.0.0.1/32", "LocalHost.", " 10.1.0.0/16 ", "::1"))
        assert policy.allows_host("localhost")
        assert policy.allows_host("localhost.")
        assert not policy.allows_host("example.com")
        assert policy.allows_address(IPv4Address("127.0.0.1"))
        assert not policy.allows_address(IPv4Address("127.0.0.2"))
        assert policy.allows_address(IPv4Address("10.1.200.3"))
        assert policy.allows_address(IPv6Address("::1"))

    @pytest.mark.parametrize("entry", ["http://localhost", "10.0.0.0/33", "a b", "", "*.local"])
    def test_an_allow_entry_that_is_neither_is_refused_naming_the_setting(self, entry: str) -> None:
        with pytest.raises(ConfigurationError) as raised:
            SsrfPolicy(allow=(entry,))
        assert raised.value.key == "ssrf_allow"

    @pytest.mark.parametrize(
        ("kwargs", "key"),
        [
            ({"allowed_schemes": ()}, "allowed_schemes"),
            ({"allowed_schemes": ("HTTP",)}, "allowed_schemes"),
            ({"allowed_ports": (0,)}, "allowed_ports"),
            ({"resolve_timeout_s": 0.0}, "resolve_timeout_s"),
            ({"max_url_length": 3}, "max_url_length"),
        ],
    )
    def test_settings_it_cannot_work_with_are_refused(
        self, kwargs: dict[str, object], key: str
    ) -> None:
        with pytest.raises(ConfigurationError) as raised:
            SsrfPolicy(**kwargs)  # type: ignore[arg-type]  # each case passes one field
        assert raised.value.key == key
