"""``check_url`` with a static resolver: what it refuses, why, and what it pins."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.kernel.ssrf import (
    AddressCategory,
    IPAddress,
    SafeTarget,
    SsrfPolicy,
    StaticResolver,
    SystemResolver,
    UnsafeReason,
    UnsafeUrlError,
    check_url,
)

PUBLIC = "93.184.215.14"
RESOLVER = StaticResolver(
    {
        "hooks.example.com": [PUBLIC],
        "example.com": [PUBLIC],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
        "loopback.example.com": ["127.0.0.1"],
        "mixed.example.com": [PUBLIC, "10.1.2.3"],
        "metadata.example.com": ["169.254.169.254"],
        "mapped.example.com": ["::ffff:10.0.0.1"],
        "localhost": ["127.0.0.1", "::1"],
        "xn--bcher-kva.de": [PUBLIC],
        "empty.example.com": [],
    }
)
DEV = SsrfPolicy(allow=("127.0.0.1/32", "localhost"))


async def refused(
    url: str, policy: SsrfPolicy | None = None, resolver: StaticResolver = RESOLVER
) -> UnsafeUrlError:
    with pytest.raises(UnsafeUrlError) as raised:
        await check_url(url, resolver=resolver, policy=policy)
    assert raised.value.url == url
    return raised.value


class TestRefusesNonPublicAddresses:
    @pytest.mark.parametrize(
        ("url", "category"),
        [
            ("http://127.0.0.1", AddressCategory.LOOPBACK),
            ("http://127.0.0.1:8000/hook", AddressCategory.LOOPBACK),
            ("http://[::1]", AddressCategory.LOOPBACK),
            ("http://169.254.169.254/latest/meta-data/", AddressCategory.METADATA),
            ("http://[fd00:ec2::254]/", AddressCategory.METADATA),
            ("http://10.0.0.1", AddressCategory.PRIVATE),
            ("http://172.16.5.4", AddressCategory.PRIVATE),
            ("http://192.168.1.1", AddressCategory.PRIVATE),
            ("http://100.64.0.1", AddressCategory.SHARED),
            ("http://0.0.0.0", AddressCategory.UNSPECIFIED),
            ("http://[::]", AddressCategory.UNSPECIFIED),
            ("http://169.254.1.1", AddressCategory.LINK_LOCAL),
            ("http://[fe80::1]", AddressCategory.LINK_LOCAL),
            ("http://[fc00::1]", AddressCategory.PRIVATE),
            ("http://224.0.0.1", AddressCategory.MULTICAST),
            ("http://255.255.255.255", AddressCategory.RESERVED),
            ("http://[::ffff:127.0.0.1]", AddressCategory.LOOPBACK),
            ("http://[::ffff:7f00:1]", AddressCategory.LOOPBACK),
            ("http://[::127.0.0.1]", AddressCategory.LOOPBACK),
            ("http://[64:ff9b::10.0.0.1]", AddressCategory.PRIVATE),
            ("http://[64:ff9b::a9fe:a9fe]", AddressCategory.METADATA),
            ("http://[2002:7f00:1::]", AddressCategory.TRANSITION),
        ],
    )
    async def test_an_address_literal_in_a_refused_range(
        self, url: str, category: AddressCategory
    ) -> None:
        error = await refused(url)
        assert error.reason is UnsafeReason.PRIVATE_ADDRESS
        assert error.category is category

    @pytest.mark.parametrize(
        "url",
        [
            "http://2130706433",
            "http://2130706433/",
            "http://0x7f.1",
            "http://0x7f000001",
            "http://0177.0.0.1",
            "http://127.1",
            "http://127.0.0.1.",
            "http://0",
        ],
    )
    async def test_numeric_ipv4_forms_of_a_refused_address(self, url: str) -> None:
        error = await refused(url)
        assert error.reason is UnsafeReason.PRIVATE_ADDRESS

    async def test_numeric_forms_are_refused_even_for_a_public_address(self) -> None:
        assert (await refused("http://1572395790/")).reason is UnsafeReason.MALFORMED

    async def test_a_name_that_resolves_to_loopback(self) -> None:
        error = await refused("https://loopback.example.com/hook")
        assert (error.reason, error.category) == (
            UnsafeReason.PRIVATE_ADDRESS,
            AddressCategory.LOOPBACK,
        )
        assert error.address == IPv4Address("127.0.0.1")

    async def test_a_name_with_one_public_and_one_private_address(self) -> None:
        error = await refused("https://mixed.example.com/hook")
        assert error.reason is UnsafeReason.PRIVATE_ADDRESS
        assert error.address == IPv4Address("10.1.2.3")

    async def test_names_that_resolve_to_metadata_or_a_mapped_private_address(self) -> None:
        assert (await refused("http://metadata.example.com")).category is AddressCategory.METADATA
        assert (await refused("http://mapped.example.com")).category is AddressCategory.PRIVATE

    async def test_localhost_without_an_allow_list(self) -> None:
        assert (await refused("http://localhost:8000")).reason is UnsafeReason.PRIVATE_ADDRESS

    async def test_the_error_message_names_neither_the_url_nor_the_address(self) -> None:
        error = await refused("https://loopback.example.com/hook?token=secret")
        assert "secret" not in str(error)
        assert "127.0.0.1" not in str(error)


class TestRefusesOddUrls:
    @pytest.mark.parametrize(
        "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com:70/_x"]
    )
    async def test_schemes_outside_the_allow_list(self, url: str) -> None:
        assert (await refused(url)).reason is UnsafeReason.SCHEME

    @pytest.mark.parametrize(
        "url",
        [
            "http://user:pw@example.com",
            "http://user@example.com/",
            "http://@example.com",
            "http://example.com@127.0.0.1/",
        ],
    )
    async def test_userinfo(self, url: str) -> None:
        assert (await refused(url)).reason is UnsafeReason.USERINFO

    @pytest.mark.parametrize(
        "url",
        [
            "http:example.com",
            "http:/example.com",
            "http://",
            "http:///path",
            "http://:80/",
            "example.com/hook",
            "//example.com/hook",
            "http://example.com:0/",
            "http://example.com:65536/",
            "http://example.com:+80/",
            "http://example.com:/",
            "http://example.com:8o/",
            "http://exa mple.com/",
            "http://example.com\\@127.0.0.1/",
            "http://example.com/\r\nX-Injected: 1",
            "http://%31%32%37.0.0.1/",
            "http://[fe80::1%25eth0]/",
            "http://[::1/",
            "http://[::1]x/",
            "http://[v1.abc]/",
            "http://a..b/",
            "http://256.1.1.1/",
            "http://1.2.3.4.5/",
            "http://example.08/",
            "http://" + "a" * 64 + ".com/",
            "http://example.com/" + "x" * 3000,
        ],
    )
    async def test_malformed_urls(self, url: str) -> None:
        assert (await refused(url)).reason is UnsafeReason.MALFORMED

    async def test_a_name_that_does_not_resolve(self) -> None:
        assert (await refused("http://nowhere.example.com")).reason is UnsafeReason.UNRESOLVABLE

    async def test_a_name_that_resolves_to_nothing(self) -> None:
        assert (await refused("http://empty.example.com")).reason is UnsafeReason.UNRESOLVABLE

    async def test_a_resolver_slower_than_the_timeout(self) -> None:
        class Hanging:
            async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
                await asyncio.Event().wait()
                raise AssertionError("unreachable")

        with pytest.raises(UnsafeUrlError) as raised:
            await check_url(
                "http://example.com",
                resolver=Hanging(),
                policy=SsrfPolicy(resolve_timeout_s=0.01),
            )
        assert raised.value.reason is UnsafeReason.UNRESOLVABLE

    async def test_a_port_the_policy_does_not_allow(self) -> None:
        policy = SsrfPolicy(allowed_ports=(443,))
        assert (await refused("http://example.com/", policy)).reason is UnsafeReason.PORT
        assert (await refused("https://example.com:8443/", policy)).reason is UnsafeReason.PORT
        target = await check_url("https://example.com/", resolver=RESOLVER, policy=policy)
        assert target.port == 443

    async def test_http_when_the_policy_allows_only_https(self) -> None:
        policy = SsrfPolicy(allowed_schemes=("https",))
        assert (await refused("http://example.com/", policy)).reason is UnsafeReason.SCHEME


class TestAccepts:
    async def test_a_name_that_resolves_to_a_public_address_is_pinned_to_it(self) -> None:
        resolver = StaticResolver({"hooks.example.com": [PUBLIC]})
        target = await check_url("https://Hooks.Example.com/in?x=1", resolver=resolver)
        assert target == SafeTarget(
            url="https://hooks.example.com/in?x=1",
            scheme="https",
            host="hooks.example.com",
            port=443,
            addresses=(IPv4Address(PUBLIC),),
        )
        assert resolver.lookups == [("hooks.example.com", 443)]  # resolved exactly once

    async def test_an_explicit_port_and_an_ipv6_name(self) -> None:
        target = await check_url("http://v6.example.com:8080/", resolver=RESOLVER)
        assert target.port == 8080
        assert target.addresses == (IPv6Address("2606:2800:220:1:248:1893:25c8:1946"),)

    async def test_public_address_literals_need_no_resolver(self) -> None:
        resolver = StaticResolver({})
        v4 = await check_url(f"http://{PUBLIC}/", resolver=resolver)
        v6 = await check_url("https://[2606:2800:220:1:248:1893:25c8:1946]/", resolver=resolver)
        mapped = await check_url(f"http://[::ffff:{PUBLIC}]/", resolver=resolver)
        assert v4.addresses == (IPv4Address(PUBLIC),)
        assert v6.host == "2606:2800:220:1:248:1893:25c8:1946"
        assert mapped.addresses == (IPv6Address(f"::ffff:{PUBLIC}"),)
        assert resolver.lookups == []

    async def test_an_international_name_is_checked_in_its_idna_form(self) -> None:
        target = await check_url("https://bücher.de/hook", resolver=RESOLVER)
        assert (target.host, target.url) == ("xn--bcher-kva.de", "https://xn--bcher-kva.de/hook")

    async def test_allow_listed_loopback_for_local_development(self) -> None:
        by_network = await check_url("http://127.0.0.1:8000/hook", resolver=RESOLVER, policy=DEV)
        by_name = await check_url("http://localhost:8000/hook", resolver=RESOLVER, policy=DEV)
        assert by_network.addresses == (IPv4Address("127.0.0.1"),)
        assert by_name.addresses == (IPv4Address("127.0.0.1"), IPv6Address("::1"))

    async def test_the_allow_list_covers_only_what_it_names(self) -> None:
        assert (await refused("http://[::1]:8000/", DEV)).reason is UnsafeReason.PRIVATE_ADDRESS
        assert (await refused("http://10.0.0.1/", DEV)).reason is UnsafeReason.PRIVATE_ADDRESS
        # An allowed name does not make a numeric form or userinfo acceptable.
        assert (await refused("http://2130706433/", DEV)).reason is UnsafeReason.MALFORMED
        assert (await refused("http://u@localhost/", DEV)).reason is UnsafeReason.USERINFO


class TestSystemResolver:
    async def test_resolves_address_literals_without_dns(self) -> None:
        assert await SystemResolver().resolve("127.0.0.1", 80) == [IPv4Address("127.0.0.1")]

    async def test_a_missing_name_raises_an_os_error(self) -> None:
        with pytest.raises(socket.gaierror):
            await SystemResolver().resolve("nothing.invalid", 80)


# --- properties ---

REFUSED_V4 = [
    IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16")
]


def refused_ipv4() -> st.SearchStrategy[IPv4Address]:
    return st.sampled_from(REFUSED_V4).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(
            IPv4Address
        )
    )


def spellings(address: IPv4Address) -> list[str]:
    """Ways a user could write a URL that reaches ``address`` without naming it."""
    n = int(address)
    a, b = divmod(n, 1 << 24)
    return [
        f"http://{address}/",
        f"http://{n}/",
        f"http://{n:#x}/",
        f"http://0{n:o}/",
        f"http://{a}.{b}/",
        f"http://[::ffff:{address}]/",
        f"http://[64:ff9b::{address}]/",
        "http://named.example.com/",
    ]


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(address=refused_ipv4(), index=st.integers(0, 7))
    async def test_any_private_loopback_or_link_local_ipv4_is_refused_however_written(
        self, address: IPv4Address, index: int
    ) -> None:
        url = spellings(address)[index]
        resolver = StaticResolver({"named.example.com": [PUBLIC, str(address)]})
        with pytest.raises(UnsafeUrlError) as raised:
            await check_url(url, resolver=resolver)
        assert raised.value.reason is UnsafeReason.PRIVATE_ADDRESS

    @settings(max_examples=200, deadline=None)
    @given(
        url=st.text(
            alphabet=st.sampled_from("htps:/@[]%.0x7f1:@\\#?ae-lo"),
            max_size=40,
        )
    )
    async def test_arbitrary_strings_are_refused_or_pinned_never_crash(self, url: str) -> None:
        resolver = StaticResolver({})
        try:
            target = await check_url(url, resolver=resolver)
        except UnsafeUrlError:
            return
        # Whatever got through names only public, checked addresses.
        assert target.addresses
        assert target.scheme in ("http", "https")
