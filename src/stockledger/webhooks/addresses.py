"""The SSRF guard: a webhook may only make the server POST to a public http(s) address.

Checked twice: when the webhook is registered (its host resolved, every address checked), and
at every delivery on the addresses the connection is actually opened to (`GuardedResolver`:
aiohttp connects to what its resolver returns, so a name that resolved to a public address at
registration and to 127.0.0.1 since, DNS rebinding, is refused then). IP literals never reach
a resolver: `refused_literal` checks them. STOCKLEDGER_WEBHOOKS_ALLOW_PRIVATE=true turns the
guard off (a receiver on the same host or network, as in development and the tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

MAX_URL = 2000


class UnsafeUrl(ValueError):
    """A URL the server will not POST to; the message says why."""


class RefusedAddress(OSError):
    """A delivery's host resolved to an address the guard refuses."""


def why_refused(address: str) -> str | None:
    """Why an IP address is refused (loopback, private, link-local, ...), or None if global."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return why_refused(str(embedded))
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    return None if ip.is_global else f"{address} is not a global address"


def parse(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; UnsafeUrl when it is not one."""
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        raise UnsafeUrl(f"a URL of at most {MAX_URL} characters without spaces")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as error:  # a bracketed host that is no IP address, a port past 65535
        raise UnsafeUrl(f"not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs")
    if not host:
        raise UnsafeUrl("the URL names no host")
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def refused_literal(host: str) -> str | None:
    """Why an IP-literal host is refused; None for a global address or a name."""
    try:
        return why_refused(host)
    except ValueError:
        return None  # a name: resolved and checked by the resolver


async def check_url(url: str, *, allow_private: bool) -> None:
    """Registration: an http(s) URL whose host resolves only to global addresses."""
    host, port = parse(url)
    if allow_private:
        return
    if why := refused_literal(host):
        raise UnsafeUrl(why)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeUrl(f"{host} does not resolve ({error})") from None
    for info in infos:
        if why := why_refused(str(info[4][0])):
            raise UnsafeUrl(f"{host} resolves to {why}")


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing a name with any address the guard refuses."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if why := why_refused(result["host"]):
                raise RefusedAddress(f"refused: {host} resolves to {why}")
        return found

    async def close(self) -> None:
        await self._inner.close()
