"""Shared fixtures: loopback sites, settings that allow only 127.0.0.0/8, and a transport that refuses anything else."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.demo import LoopbackSite
from pipeline.fetch.body import deadline_transport
from pipeline.settings import Settings

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
#: the article that started regwire (CoinTelegraph, 28 Sep 2022), carried in the repository with its source metadata
SEED_DIR = Path(__file__).resolve().parent / "data" / "seed"


class LoopbackOnlyTransport(httpx.BaseTransport):
    """The real HTTP transport, but it refuses to open a connection to any address outside 127.0.0.0/8.

    Tests of the SSRF guard run through it, so a broken guard shows up as a failed assertion, never as traffic.
    """

    def __init__(self) -> None:
        self.inner = deadline_transport()  # the production transport (its sockets obey the total deadline)
        self.refused: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or address not in LOOPBACK:
            self.refused.append(str(request.url))
            raise AssertionError(f"test transport refused a non-loopback connection to {request.url}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def loopback_resolver(names: dict[str, str] | None = None):
    """A resolver for tests: given names map to given addresses, 'localhost' to 127.0.0.1, nothing else resolves."""
    table = {"localhost": "127.0.0.1", **(names or {})}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"test resolver: unknown host {host}")
        return [table[host]]

    return resolve


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", allow_networks=[LOOPBACK], host_delay=0.0, connect_timeout=2,
                    read_timeout=2, total_timeout=3, backoff_base=60, suspend_after=3, workers=2)


@pytest.fixture
def transport() -> Iterator[LoopbackOnlyTransport]:
    t = LoopbackOnlyTransport()
    yield t
    t.close()


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    """The bundled sample news site on a free loopback port."""
    with LoopbackSite() as s:
        yield s


@pytest.fixture
def empty_site(tmp_path: Path) -> Iterator[LoopbackSite]:
    """A loopback site with no files: tests add the routes they need."""
    root = tmp_path / "site"
    root.mkdir()
    with LoopbackSite(root) as s:
        yield s


@pytest.fixture
def seed_text() -> str:
    return (SEED_DIR / "cointelegraph-2022-09-28-kazakhstan.txt").read_text(encoding="utf-8")
