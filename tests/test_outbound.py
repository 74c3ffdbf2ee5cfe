"""Outbound safety: static URL/host checks and the connect-time address guard (GuardedTransport)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from replaylink import outbound
from replaylink.outbound import GuardedTransport, UnsafeURL, check_host, check_url, resolve_checked
from tests.peers.common import serve

METADATA = "http://169.254.169.254/latest/meta-data/"

ALWAYS_REFUSED = [
    "file:///etc/passwd",
    "ftp://files.example.com/x",
    "gopher://example.com:70/",
    "javascript:alert(1)",
    "example.com/no-scheme",
    "http://",
    "http://example.com:99999/",
    "https://user:pw@example.com/",
    "https://user@example.com/",
    "https://:pw@example.com/",
    METADATA,
    "http://169.254.0.1:8080/",
    "HTTP://169.254.169.254/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[FD00:EC2:0:0:0:0:0:254]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]:80/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://0.0.0.0:9200/",
    "http://[::]:9200/",
    "http://224.0.0.1/",
    # legacy numeric IPv4 forms that getaddrinfo/inet_aton accept for 169.254.169.254 and 0.0.0.0
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0xA9FEA9FE/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://169.16689662/",
    "http://0/",
]
PRIVATE = [
    "http://127.0.0.1:9200/",
    "http://127.1:9200/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://10.0.0.5:9200/",
    "http://172.16.3.4/",
    "http://192.168.1.10/",
    "http://100.64.0.1/",
    "http://[::1]:9200/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
]
PUBLIC = [
    "https://sentry.io",
    "https://api.datadoghq.eu/api",
    "http://93.184.216.34:9200/",
    "https://[2606:4700::6810:84e5]/",
    "https://es.example.com:9243/logs",
    "http://localhost:9200/",  # a name: checked when it resolves, not here
]


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("block_private", [False, True])
def test_always_refused(url: str, block_private: bool) -> None:
    with pytest.raises(UnsafeURL) as caught:
        check_url(url, block_private=block_private, field="base_url")
    assert str(caught.value).startswith("base_url ")


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_only_when_blocking(url: str) -> None:
    check_url(url, block_private=False)
    with pytest.raises(UnsafeURL, match="loopback or private"):
        check_url(url, block_private=True, field="host")


@pytest.mark.parametrize("url", PUBLIC)
@pytest.mark.parametrize("block_private", [False, True])
def test_public_urls_pass(url: str, block_private: bool) -> None:
    check_url(url, block_private=block_private)


def test_messages_name_the_field_and_never_echo_credentials() -> None:
    with pytest.raises(UnsafeURL) as caught:
        check_url("https://admin:hunter2-in-url@es.example.com", block_private=False, field="host")
    assert "host must not contain credentials" in str(caught.value)
    assert "hunter2-in-url" not in str(caught.value)
    with pytest.raises(UnsafeURL, match=r"^endpoint_url must start with http:// or https://\.$"):
        check_url("file:///etc/passwd", block_private=False, field="endpoint_url")
    with pytest.raises(UnsafeURL, match="link-local or cloud-metadata address"):
        check_url(METADATA, block_private=False)


@pytest.mark.parametrize(
    ("host", "block_private", "refused"),
    [
        ("169.254.169.254", False, True),
        ("fd00:ec2::254", False, True),
        ("[fd00:ec2::254]", False, True),
        ("::ffff:169.254.169.254", False, True),
        ("2852039166", False, True),
        ("0251.0376.0251.0376", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("127.1", True, True),
        ("::ffff:127.0.0.1", True, True),
        ("10.1.2.3", False, False),
        ("10.1.2.3", True, True),
        ("es.example.com", True, False),
        ("1.2.3.4.example.com", True, False),
        ("0x7f.example", True, False),
        ("8.8.8.8", True, False),
    ],
)
def test_check_host(host: str, block_private: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(UnsafeURL, match=r"^host points at"):
            check_host(host, block_private=block_private)
    else:
        check_host(host, block_private=block_private)


# --------------------------------------------------------------------------- resolution


Answer = dict[str, list[str]]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Answer:
    """Names in the returned dict resolve to the addresses listed; others resolve for real.

    This replaces the operating system's resolver (socket.getaddrinfo, which the event loop's
    getaddrinfo calls too), not ReplayLink code.
    """
    answers: Answer = {}
    real: Callable[..., Any] = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            out = []
            for address in answers[host]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, int(port), 0, 0) if family == socket.AF_INET6 else (address, int(port))
                out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


def test_resolve_checked(dns: Answer) -> None:
    dns["metadata.test"] = ["169.254.169.254"]
    dns["mixed.test"] = ["93.184.216.34", "169.254.169.254"]
    dns["mapped.test"] = ["::ffff:169.254.169.254"]
    dns["public.test"] = ["93.184.216.34", "2606:4700::6810:84e5"]
    for name in ("metadata.test", "mixed.test", "mapped.test"):
        with pytest.raises(UnsafeURL, match=f"^{name} resolves to a link-local or cloud-metadata address"):
            resolve_checked(name, 443, block_private=False)
    assert resolve_checked("public.test", 443, block_private=True) == [
        "93.184.216.34",
        "2606:4700::6810:84e5",
    ]
    assert "127.0.0.1" in resolve_checked("localhost", 80, block_private=False)
    with pytest.raises(UnsafeURL, match="loopback or private"):
        resolve_checked("localhost", 80, block_private=True)
    with pytest.raises(OSError, match="cannot resolve"):
        resolve_checked("no-such-host.invalid", 80, block_private=False)


@pytest.fixture(scope="module")
def local_server() -> Iterator[int]:
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, bool]:
        return {"ok": True}

    with serve(app) as url:
        yield httpx.URL(url).port or 0


async def fetch(url: str, *, block_private: bool) -> httpx.Response:
    transport = outbound.transport_factory(block_private)(True)
    assert isinstance(transport, GuardedTransport)
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        return await client.get(url)


async def test_guarded_transport_connects_to_allowed_addresses(local_server: int, dns: Answer) -> None:
    assert (await fetch(f"http://127.0.0.1:{local_server}/", block_private=False)).json() == {"ok": True}
    assert (await fetch(f"http://localhost:{local_server}/", block_private=False)).status_code == 200
    dns["app.test"] = ["127.0.0.1"]
    assert (await fetch(f"http://app.test:{local_server}/", block_private=False)).status_code == 200


async def test_guarded_transport_refuses_localhost_when_blocking(local_server: int) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        await fetch(f"http://localhost:{local_server}/", block_private=True)
    assert "localhost resolves to a loopback or private address" in str(caught.value)
    with pytest.raises(httpx.ConnectError, match="will not connect there"):
        await fetch(f"http://127.0.0.1:{local_server}/", block_private=True)


async def test_guarded_transport_checks_the_address_at_connect_time(local_server: int, dns: Answer) -> None:
    """A name that passed the save-time check (it is a name) and later resolves to the metadata
    service is refused when connecting, whatever the private-network policy."""
    check_url(f"http://rebind.test:{local_server}/", block_private=True)
    dns["rebind.test"] = ["127.0.0.1"]
    assert (await fetch(f"http://rebind.test:{local_server}/", block_private=False)).status_code == 200
    for addresses in (["169.254.169.254"], ["127.0.0.1", "169.254.170.2"], ["fd00:ec2::254"]):
        dns["rebind.test"] = addresses
        with pytest.raises(httpx.ConnectError, match="link-local or cloud-metadata address"):
            await fetch(f"http://rebind.test:{local_server}/", block_private=False)


async def test_guarded_transport_unresolvable_name_is_a_connect_error() -> None:
    with pytest.raises(httpx.ConnectError, match=r"cannot resolve no-such-host\.invalid"):
        await fetch("http://no-such-host.invalid/", block_private=False)


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:169.254.169.254"],
)
def test_metadata_address_inside_ipv6_forms_is_refused(address: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(f"http://[{address}]/", block_private=False)


# Every IPv6 spelling that carries an IPv4 address: (spelling, IPv4 it carries).
EMBEDDING_FORMS = [
    ("::{v4}", "IPv4-compatible, dotted"),
    ("::{hi}:{lo}", "IPv4-compatible, hex"),
    ("0:0:0:0:0:0:{v4}", "IPv4-compatible, long form"),
    ("::ffff:{v4}", "IPv4-mapped"),
    ("::FFFF:{hi}:{lo}", "IPv4-mapped, hex, upper case"),
    ("0:0:0:0:0:ffff:{v4}", "IPv4-mapped, long form"),
    ("::ffff:0:{v4}", "IPv4-translated (SIIT)"),
    ("64:ff9b::{v4}", "NAT64 well-known prefix"),
    ("64:ff9b::{hi}:{lo}", "NAT64, hex"),
    ("64:ff9b:1::{v4}", "NAT64 local-use prefix"),
    ("2002:{hi}:{lo}::1", "6to4"),
    ("2001:0:{hi}:{lo}::1", "Teredo server"),
    ("2001:0:4136:e378:8000:63bf:{nhi}:{nlo}", "Teredo client (obfuscated)"),
    ("fe80::5efe:{v4}", "ISATAP, link-local prefix"),
    ("2001:db8::200:5efe:{v4}", "ISATAP, global prefix"),
]


def _spell(form: str, v4: str) -> str:
    packed = int(ipaddress.IPv4Address(v4))
    hi, lo = packed >> 16, packed & 0xFFFF
    return form.format(v4=v4, hi=f"{hi:x}", lo=f"{lo:x}", nhi=f"{hi ^ 0xFFFF:x}", nlo=f"{lo ^ 0xFFFF:x}")


@pytest.mark.parametrize(("form", "label"), EMBEDDING_FORMS, ids=[label for _, label in EMBEDDING_FORMS])
@pytest.mark.parametrize(("v4", "block_private"), [("169.254.169.254", False), ("127.0.0.1", True)])
def test_ipv6_forms_embedding_a_refused_ipv4_are_refused_at_save_and_connect(
    form: str, label: str, v4: str, block_private: bool, dns: Answer
) -> None:
    spelled = _spell(form, v4)
    assert v4 in [str(a) for a in outbound.embedded_ipv4s(ipaddress.ip_address(spelled))], label
    with pytest.raises(UnsafeURL, match="will not connect there"):
        check_url(f"http://[{spelled}]:9200/", block_private=block_private, field="host")
    dns["embedded.test"] = [spelled]
    with pytest.raises(UnsafeURL, match="resolves to"):
        resolve_checked("embedded.test", 9200, block_private=block_private)


@pytest.mark.parametrize(("form", "label"), EMBEDDING_FORMS, ids=[label for _, label in EMBEDDING_FORMS])
def test_ipv6_forms_embedding_a_public_ipv4_follow_the_ipv4_rules(form: str, label: str) -> None:
    spelled = _spell(form, "93.184.216.34")
    if ipaddress.ip_address(spelled).is_link_local:  # ISATAP under fe80::/10 is link-local anyway
        return
    check_url(f"http://[{spelled}]/", block_private=False)
