"""Opt-in: forward the token to your own services, on httpx, requests and aiohttp clients.

Only clients you attach it to are affected, through each library's own hook point (no global
monkeypatching), and only requests to the configured hosts carry the header::

    propagator = Propagator(["api.internal", ".svc.cluster.local"])
    httpx.Client(event_hooks=propagator.httpx_hooks())
    httpx.AsyncClient(event_hooks=propagator.httpx_async_hooks())
    propagator.mount(requests_session)
    aiohttp.ClientSession(trace_configs=[propagator.aiohttp_trace_config()])

A host entry matches exactly (``api.internal``); an entry with a leading dot matches the domain
and its subdomains (``.example.com``). Ports are ignored. The propagator owns the header on
those clients: it is set on allowed hosts and removed on others, including after a redirect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from .context import token_var
from .headers import HEADER

if TYPE_CHECKING:
    import aiohttp
    import httpx
    import requests


class Propagator:
    """Adds ``header`` (default ``X-OpenReplay-SessionToken``) on requests to ``hosts``."""

    def __init__(self, hosts: Iterable[str], header: str = HEADER) -> None:
        entries = [host.lower().rstrip(".") for host in hosts]
        self._exact = frozenset(entry for entry in entries if not entry.startswith("."))
        self._suffixes = tuple(entry for entry in entries if entry.startswith("."))
        self.header = header

    def allows(self, host: str | None) -> bool:
        """Whether requests to ``host`` may carry the token."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return host in self._exact or ("." + host).endswith(self._suffixes)

    def apply(self, host: str | None, headers: MutableMapping[str, str]) -> None:
        """Set the header for an allowed host with a current token, remove it otherwise."""
        token = token_var.get()
        if token is not None and self.allows(host):
            headers[self.header] = token
        elif self.header in headers:
            del headers[self.header]

    def httpx_hooks(self) -> dict[str, list[Callable[[httpx.Request], None]]]:
        """``event_hooks`` for ``httpx.Client`` (hooks run for every request, redirects included)."""

        def on_request(request: httpx.Request) -> None:
            self.apply(request.url.host, request.headers)

        return {"request": [on_request]}

    def httpx_async_hooks(self) -> dict[str, list[Callable[[httpx.Request], Awaitable[None]]]]:
        """``event_hooks`` for ``httpx.AsyncClient``."""

        async def on_request(request: httpx.Request) -> None:
            self.apply(request.url.host, request.headers)

        return {"request": [on_request]}

    def mount(self, session: requests.Session, **adapter_options: Any) -> requests.Session:
        """Mount an ``HTTPAdapter`` on ``session`` whose ``add_headers`` hook applies the header.

        It replaces the session's ``http://`` and ``https://`` adapters; pass ``max_retries`` and
        other ``HTTPAdapter`` options as ``adapter_options``.
        """
        from requests.adapters import HTTPAdapter

        propagator = self

        class PropagatingAdapter(HTTPAdapter):
            def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
                propagator.apply(urlsplit(request.url or "").hostname, request.headers)

        adapter = PropagatingAdapter(**adapter_options)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def aiohttp_trace_config(self) -> aiohttp.TraceConfig:
        """A ``TraceConfig`` applying the header before the request and before each redirect."""
        import aiohttp
        from yarl import URL

        async def on_start(
            session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
        ) -> None:
            self.apply(params.url.host, params.headers)

        async def on_redirect(
            session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestRedirectParams
        ) -> None:
            location = params.response.headers.get("Location", "")
            self.apply(params.url.join(URL(location)).host, params.headers)

        trace_config = aiohttp.TraceConfig()
        trace_config.on_request_start.append(on_start)
        trace_config.on_request_redirect.append(on_redirect)
        return trace_config
