"""``pinned_transport`` against a small HTTP(S) server on loopback: it dials the pinned
address, keeps the original Host, SNI and certificate check, and refuses other origins."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bazaar.kernel.ssrf import (
    SafeTarget,
    SsrfPolicy,
    StaticResolver,
    UnsafeReason,
    UnsafeUrlError,
    check_url,
    pinned_transport,
)
from bazaar.testing.servers import find_free_port

HOST = "hooks.example.test"  # resolvable only through the test's resolver
LOOPBACK_ONLY = SsrfPolicy(allow=("127.0.0.1/32",))


@dataclass
class EchoServer:
    """HTTP/1.1 on 127.0.0.1 answering each request with what it saw, then closing."""

    port: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def record_sni(self, _conn: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.sni.append(name)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        headers = {
            k.lower(): v for k, _, v in (line.partition(": ") for line in header_lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        method, target, _ = request_line.split(" ")
        seen = {"method": method, "target": target, "host": headers["host"], "body": body.decode()}
        self.seen.append(seen)
        payload = json.dumps(seen).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    listener = await asyncio.start_server(echo.handle, "127.0.0.1", 0)
    echo.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield echo


@dataclass
class Certificates:
    ca: ssl.SSLContext  # a client context trusting only the test CA
    server_for: dict[str, ssl.SSLContext]  # host -> a server context with a cert for it


def make_certificates(tmp_path: Path, hosts: list[str]) -> Certificates:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bazaar test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    client = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    servers = {}
    for host in hosts:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file = tmp_path / f"{host}.crt", tmp_path / f"{host}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        servers[host] = context
    return Certificates(client, servers)


async def target_for(url: str, policy: SsrfPolicy = LOOPBACK_ONLY) -> SafeTarget:
    return await check_url(url, resolver=StaticResolver({HOST: ["127.0.0.1"]}), policy=policy)


class TestPinnedTransport:
    async def test_dials_the_pinned_address_and_sends_the_original_host(
        self, server: EchoServer
    ) -> None:
        target = await target_for(f"http://{HOST}:{server.port}/hooks?id=7")
        async with httpx.AsyncClient(transport=pinned_transport(target)) as client:
            response = await client.post(target.url, content=b'{"ok":true}')
        assert response.status_code == 200
        assert response.json() == {
            "method": "POST",
            "target": "/hooks?id=7",
            "host": f"{HOST}:{server.port}",
            "body": '{"ok":true}',
        }

    async def test_falls_through_to_the_next_pinned_address_when_one_refuses(
        self, server: EchoServer
    ) -> None:
        # 127.0.0.2 is loopback too, but nothing listens there on this port.
        target = SafeTarget(
            url=f"http://{HOST}:{server.port}/",
            scheme="http",
            host=HOST,
            port=server.port,
            addresses=(IPv4Address("127.0.0.2"), IPv4Address("127.0.0.1")),
        )
        async with httpx.AsyncClient(transport=pinned_transport(target)) as client:
            response = await client.get(target.url)
        assert response.status_code == 200

    async def test_a_refused_connection_is_httpx_s_connect_error(self) -> None:
        target = await target_for(f"http://{HOST}:{find_free_port()}/")
        async with httpx.AsyncClient(transport=pinned_transport(target)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(target.url)

    @pytest.mark.parametrize(
        "other",
        [
            "http://elsewhere.example.test:{port}/",  # another host
            "http://hooks.example.test:{other_port}/",  # another port
            "https://hooks.example.test:{port}/",  # another scheme
        ],
    )
    async def test_a_request_for_another_origin_is_refused_unsent(
        self, server: EchoServer, other: str
    ) -> None:
        target = await target_for(f"http://{HOST}:{server.port}/")
        url = other.format(port=server.port, other_port=server.port + 1)
        async with httpx.AsyncClient(transport=pinned_transport(target)) as client:
            with pytest.raises(UnsafeUrlError) as raised:
                await client.get(url)
        assert raised.value.reason is UnsafeReason.UNPINNED
        assert server.seen == []

    async def test_https_verifies_the_certificate_for_the_original_host_and_sends_it_as_sni(
        self, tmp_path: Path
    ) -> None:
        certificates = make_certificates(tmp_path, [HOST, "other.example.test"])
        for host, expect_ok in ((HOST, True), ("other.example.test", False)):
            echo = EchoServer()
            context = certificates.server_for[host]
            context.sni_callback = echo.record_sni
            listener = await asyncio.start_server(echo.handle, "127.0.0.1", 0, ssl=context)
            port = listener.sockets[0].getsockname()[1]
            async with listener:
                target = await target_for(f"https://{HOST}:{port}/secure")
                transport = pinned_transport(target, verify=certificates.ca)
                async with httpx.AsyncClient(transport=transport) as client:
                    if expect_ok:
                        response = await client.get(target.url)
                        assert response.json()["host"] == f"{HOST}:{port}"
                    else:
                        # Pinned to the right address, but the certificate is another
                        # host's: verification is against the URL's host, not the IP.
                        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
                            await client.get(target.url)
            assert echo.sni == [HOST]
