"""SSRF guard: only public http(s) addresses are fetched, checked after DNS resolution and on every redirect hop.

The guard sits in the transport, so every request the fetcher makes passes through it. It resolves the host itself,
refuses the request when any resolved address is not globally routable (loopback, private, link-local and cloud
metadata, CGNAT, multicast, reserved) unless an allow-listed network contains it, and then connects to the address it
checked rather than resolving again, so a DNS answer that changes between check and connect (rebinding) cannot slip
through. TLS still verifies the certificate against the original host name (SNI).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

import httpx

from ..errors import BAD_INPUT_ERRORS, BlockedURLError, InvalidURLError, TransportError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host name, port → addresses; injectable so tests can resolve names to any address without DNS
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
#: how every refusal starts, so that nobody mistakes it for robots.txt or the server
BLOCKED = "blocked by the address guard"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressPolicy:
    """Decides which addresses may be contacted."""

    def __init__(self, allow_networks: Iterable[IPNetwork] = ()):
        self.allow_networks = tuple(allow_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        if any(address in net for net in self.allow_networks):
            return None
        if isinstance(address, ipaddress.IPv6Address):
            for form, embedded in _embedded_ipv4(address):
                if form == "IPv4-mapped":
                    address = embedded
                elif reason := AddressPolicy().refusal(embedded):  # the allow-list names real addresses only
                    return f"{form} address embedding a {reason} ({embedded})"
        if address.is_loopback:
            return "loopback address"
        if address.is_link_local:
            # 169.254.169.254 and fd00:ec2::254 style metadata services live here
            return "link-local/metadata address"
        if address.is_private:
            return "private address"
        if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
            return "non-public address"
        return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses an IPv6 address carries (routers translate them): mapped, 6to4, Teredo, NAT64 (RFC 6052)."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if address.ipv4_mapped is not None:
        found.append(("IPv4-mapped", address.ipv4_mapped))
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found += [("Teredo", server), ("Teredo", client)]
    if address in _NAT64 or address in _NAT64_LOCAL:
        found.append(("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
    return found


def check_scheme(url: httpx.URL | str) -> None:
    url = parse_url(url)
    if url.scheme not in ALLOWED_SCHEMES:
        raise BlockedURLError(str(url), f"{BLOCKED}: scheme {url.scheme or '(none)'!r} is not fetched "
                                        "(only http and https)")
    if not url.host:
        raise BlockedURLError(str(url), f"{BLOCKED}: URL has no host")


#: what parsing a URL may raise: httpx's own error, idna's (UnicodeErrors), ValueErrors for bad ports ...
URL_ERRORS: tuple[type[BaseException], ...] = (httpx.InvalidURL, *BAD_INPUT_ERRORS)


def parse_url(url: httpx.URL | str) -> httpx.URL:
    """``url`` parsed, host included (IDNA); raises :class:`InvalidURLError` naming what is wrong."""
    if isinstance(url, httpx.URL):
        return url
    try:
        parsed = httpx.URL(str(url))
        parsed.host  # noqa: B018 - decoding the host is where a bad IDNA label fails
    except URL_ERRORS as exc:
        raise InvalidURLError(str(url), f"invalid URL: {type(exc).__name__}: {exc}") from exc
    return parsed


class GuardedTransport(httpx.BaseTransport):
    """Wraps a transport; resolves and vets the host of every request, then connects to the vetted address."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        policy: AddressPolicy | None = None,
        resolver: Resolver = system_resolver,
    ):
        self.inner = inner or httpx.HTTPTransport()
        self.policy = policy or AddressPolicy()
        self.resolver = resolver

    def vet(self, url: httpx.URL) -> IPAddress:
        """The address to connect to for ``url``; raises :class:`BlockedURLError` when it may not be fetched."""
        check_scheme(url)
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
            except UnicodeError as exc:
                raise InvalidURLError(str(url), f"invalid host {host!r}: {exc}") from exc
            except OSError as exc:  # DNS may answer next time
                raise TransportError(str(url), f"cannot resolve host {host!r}: {exc}") from exc
            if not addresses:
                raise BlockedURLError(str(url), f"{BLOCKED}: host {host!r} resolves to no address")
        for address in addresses:
            if reason := self.policy.refusal(address):
                raise BlockedURLError(str(url), f"{BLOCKED}: refused {reason} {address} for host {host!r}")
        return addresses[0]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        address = self.vet(request.url)
        host = request.url.host
        if str(address) != host:
            # Connect to the vetted address; the Host header (set by the client) and SNI keep the real name.
            request.url = request.url.copy_with(host=str(address))
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """The same guard for async clients (the Airflow triggerer's event loop): the host is resolved and vetted in a
    worker thread (DNS must not block the loop), then the request goes to the vetted address."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, *, policy: AddressPolicy | None = None,
                 resolver: Resolver = system_resolver):
        self.inner = inner or httpx.AsyncHTTPTransport()
        # only its vet() is used: it never sends a request itself
        self.vetter = GuardedTransport(httpx.BaseTransport(), policy=policy, resolver=resolver)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        address = await asyncio.to_thread(self.vetter.vet, request.url)
        host = request.url.host
        if str(address) != host:
            request.url = request.url.copy_with(host=str(address))
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
