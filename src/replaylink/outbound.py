"""Outbound safety: ReplayLink connects to URLs users type, so it refuses dangerous targets.

Always refused: schemes other than http(s), credentials inside the URL, link-local and
cloud-metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254). With
``REPLAYLINK_BLOCK_PRIVATE_NETWORKS=true`` also loopback, private and other non-global ranges.

URLs are checked when settings are saved, and every connection checks the address it
actually resolves to (:class:`GuardedTransport`), so DNS changes after saving cannot
slip past the rules.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

_NUMERIC_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
"""Legacy IPv4 spellings resolvers accept: ``2130706433``, ``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1``."""
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("169.254.169.254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """A user-supplied URL or address that ReplayLink refuses to connect to."""


_LOW32 = 0xFFFFFFFF
_IPV4_IN_LOW_32_BITS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::/96",  # IPv4-compatible, ::a.b.c.d (deprecated, still routed by some stacks)
        "::ffff:0:0/96",  # IPv4-mapped, ::ffff:a.b.c.d
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT), ::ffff:0:a.b.c.d
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use prefixes
    )
)


def embedded_ipv4s(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address may carry: IPv4-compatible, mapped, translated, NAT64,
    6to4, Teredo (server and client), ISATAP. Each is judged by the IPv4 rules."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    value = int(address)
    found: list[ipaddress.IPv4Address] = []
    if any(address in network for network in _IPV4_IN_LOW_32_BITS) and value > 1:  # not :: or ::1
        found.append(ipaddress.IPv4Address(value & _LOW32))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if (value >> 32) & 0xFDFFFFFF == 0x5EFE:  # ISATAP interface id: [02]00:5efe:a.b.c.d
        found.append(ipaddress.IPv4Address(value & _LOW32))
    return found


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The first IPv4 address an IPv6 address carries, if any (see :func:`embedded_ipv4s`)."""
    found = embedded_ipv4s(address)
    return found[0] if found else None


def address_problem(address: IPAddress, block_private: bool) -> str | None:
    """Why ``address`` is refused, or None when it is allowed."""
    for embedded in embedded_ipv4s(address):
        problem = address_problem(embedded, block_private)
        if problem:
            return problem
    if address in METADATA_ADDRESSES or address.is_link_local:
        return "a link-local or cloud-metadata address"
    if block_private and not address.is_global:
        return "a loopback or private address (REPLAYLINK_BLOCK_PRIVATE_NETWORKS is on)"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    return None


def check_url(url: str, *, block_private: bool, field: str = "url") -> None:
    """Static checks of a URL typed by a user; raises :class:`UnsafeURL` naming ``field``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise UnsafeURL(f"{field} is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"{field} must start with http:// or https://.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL(f"{field} must not contain credentials; use the credential fields instead.")
    if not host:
        raise UnsafeURL(f"{field} has no host name.")
    check_host(host, block_private=block_private, field=field)


def _ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, also in the legacy numeric IPv4 forms; None for a name."""
    text = host.strip("[]").split("%", 1)[0]  # a zone id (fe80::1%eth0) does not change the address
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not _NUMERIC_IPV4.fullmatch(text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def check_host(host: str, *, block_private: bool, field: str = "host") -> None:
    """Refuse an IP-literal host that breaks the rules (names are checked when resolved)."""
    address = _ip_literal(host)
    if address is None:
        return
    problem = address_problem(address, block_private)
    if problem:
        raise UnsafeURL(f"{field} points at {problem}; ReplayLink will not connect there.")


def resolve_checked(host: str, port: int, *, block_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing the lot if any one is unsafe."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
    return _checked(host, (info[4][0] for info in infos), block_private)


def _checked(host: str, addresses: Iterable[Any], block_private: bool) -> list[str]:
    out: list[str] = []
    for raw in addresses:
        address = ipaddress.ip_address(str(raw).split("%", 1)[0])
        problem = address_problem(address, block_private)
        if problem:
            raise UnsafeURL(f"{host} resolves to {problem}; ReplayLink will not connect there.")
        out.append(str(address))
    return out


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, then connects to a checked one.

    TLS still verifies the certificate against the original host name (httpcore passes the
    request's host as the SNI/server name), so connecting by IP loses nothing.
    """

    def __init__(self, block_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._block_private = block_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
        try:
            addresses = _checked(host, (info[4][0] for info in infos), self._block_private)
        except UnsafeURL as exc:
            raise httpcore.ConnectError(str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _shared_ssl_context(verify: bool) -> ssl.SSLContext:
    """httpx's context for ``verify=True``/``False``, built once per process.

    Loading the CA bundle takes 15-40 ms of CPU; done twice per transport (one per poll), it
    capped an importer worker at a dozen polls per second. An SSLContext is safe to share.
    """
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose every connection goes through the address checks."""

    def __init__(self, verify: Any = True, *, block_private: bool = False) -> None:
        context = (
            _shared_ssl_context(verify)
            if isinstance(verify, bool)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(block_private),
        )


def transport_factory(block_private: bool) -> Any:
    """A ``ProviderOptions.transport_factory`` for the given policy."""

    def build(verify: Any) -> httpx.AsyncBaseTransport:
        return GuardedTransport(verify, block_private=block_private)

    return build
