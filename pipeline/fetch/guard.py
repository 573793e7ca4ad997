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

from ..errors import BlockedURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host name, port → addresses; injectable so tests can resolve names to any address without DNS
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})


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
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
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


def check_scheme(url: httpx.URL | str) -> None:
    url = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
    if url.scheme not in ALLOWED_SCHEMES:
        raise BlockedURLError(str(url), f"scheme {url.scheme or '(none)'!r} is not fetched (only http and https)")
    if not url.host:
        raise BlockedURLError(str(url), "URL has no host")


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
            except (OSError, UnicodeError) as exc:
                raise BlockedURLError(str(url), f"cannot resolve host {host!r}: {exc}") from exc
            if not addresses:
                raise BlockedURLError(str(url), f"host {host!r} resolves to no address")
        for address in addresses:
            if reason := self.policy.refusal(address):
                raise BlockedURLError(str(url), f"refused {reason} {address} for host {host!r}")
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
