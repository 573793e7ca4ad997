"""The fetcher against a hostile server over real loopback HTTP: compression bombs, trickled headers, connection reuse,
Retry-After, robots.txt per RFC 9309, the address guard's embedded-IPv4 forms, bad redirect targets."""

from __future__ import annotations

import ipaddress
import threading
import time
import zlib

import pytest
from conftest import loopback_resolver
from hostile import HostileServer, Reply, gzip_bomb, trickle_headers

from pipeline.errors import (
    BlockedURLError,
    ContentEncodingError,
    DeadlineExceededError,
    HTTPStatusError,
    InvalidURLError,
    RateLimitedError,
    ResponseTooLargeError,
    RobotsDisallowedError,
)
from pipeline.fetch import AddressPolicy, Fetcher, RobotsCache
from pipeline.settings import Settings

PAGE = b"<html><body><p>" + b"A page about licensing. " * 200 + b"</p></body></html>"


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.fixture
def fetcher(settings, transport):
    with Fetcher(settings, transport=transport) as f:
        yield f


# -- sizes ----------------------------------------------------------------------------------------------------------

def test_stacked_content_encoding_is_refused_before_decoding(fetcher, hostile):
    hostile.route("/stacked", Reply(200, gzip_bomb(50 * 1024 * 1024, layers=2), {"Content-Encoding": "gzip, gzip"}))
    with pytest.raises(ContentEncodingError, match="stacked Content-Encoding 'gzip, gzip'"):
        fetcher.get(hostile.url("/stacked"))


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "x-bogus"])
def test_unknown_content_encoding_is_refused(fetcher, hostile, encoding):
    hostile.route("/odd", Reply(200, b"whatever", {"Content-Encoding": encoding}))
    with pytest.raises(ContentEncodingError, match=f"unknown Content-Encoding '{encoding}'"):
        fetcher.get(hostile.url("/odd"))


def test_gzip_bomb_stops_at_the_decoded_cap(fetcher, hostile):
    bomb = gzip_bomb(200 * 1024 * 1024)  # 200 MiB of zeros in ~200 KB
    hostile.route("/bomb", Reply(200, bomb, {"Content-Encoding": "gzip"}))
    with pytest.raises(ResponseTooLargeError, match="decoded body exceeds the 1048576-byte cap"):
        fetcher.get(hostile.url("/bomb"), max_bytes=1024 * 1024)


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", lambda b: zlib.compress(b, wbits=31)),
    ("deflate", lambda b: zlib.compress(b)),  # zlib-wrapped, as RFC 9110 says
    ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw deflate, as some servers send
    ("identity", lambda b: b),
])
def test_honest_compressed_pages_decode(fetcher, hostile, encoding, compress):
    hostile.route("/page", Reply(200, compress(PAGE), {"Content-Encoding": encoding, "Content-Type": "text/html"}))
    assert fetcher.get(hostile.url("/page")).content == PAGE


# -- time -----------------------------------------------------------------------------------------------------------

def test_trickled_headers_end_at_the_total_deadline(tmp_path, transport, hostile):
    hostile.route("/feed.xml", trickle_headers(interval=0.5))  # each byte well within the read timeout
    settings = Settings(home=tmp_path, allow_networks=["127.0.0.0/8"], host_delay=0, read_timeout=5, total_timeout=2)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="within 2s"):
        Fetcher(settings, transport=transport).get(hostile.url("/feed.xml"))
    assert time.monotonic() - started < 2 + 2


def test_waiting_for_the_host_slot_is_not_a_robots_verdict(tmp_path, transport, hostile):
    """One request holds the host's only slot until its own deadline; a page of the same host waits for the slot,
    then robots.txt is fetched and obeyed (the wait counts against no deadline)."""
    def slow_body(sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            time.sleep(0.1)
            sock.sendall(b"x")

    hostile.route("/slow-feed.xml", slow_body)
    hostile.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private/\n"))
    hostile.route("/news/a.html", Reply(200, PAGE, {"Content-Type": "text/html"}))
    settings = Settings(home=tmp_path, allow_networks=["127.0.0.0/8"], host_delay=0, host_concurrency=1,
                        total_timeout=1.5)
    fetcher = Fetcher(settings, transport=transport)
    errors: list[Exception] = []

    def slow() -> None:
        try:
            fetcher.get(hostile.url("/slow-feed.xml"))
        except DeadlineExceededError as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    page = fetcher.get(hostile.url("/news/a.html"), obey_robots=True)  # waits ~1.3 s for the slot
    thread.join()
    assert page.status == 200 and errors  # the slow one hit its deadline; the page did not
    assert hostile.requests == ["/slow-feed.xml", "/robots.txt", "/news/a.html"]
    with pytest.raises(RobotsDisallowedError, match="disallowed by robots.txt"):
        fetcher.get(hostile.url("/private/x.html"), obey_robots=True)


# -- connections ----------------------------------------------------------------------------------------------------

def test_304_redirect_and_error_bodies_are_read_so_the_connection_is_reused(fetcher, hostile):
    hostile.route("/feed.xml", Reply(304, b"", {"ETag": '"v1"'}))
    hostile.route("/moved", Reply(301, b"<a href=/feed.xml>moved</a>", {"Location": "/feed.xml"}))
    hostile.route("/gone", Reply(404, b"not here " * 100))
    for _ in range(3):
        assert fetcher.get(hostile.url("/feed.xml"), headers={"If-None-Match": '"v1"'}).not_modified
    assert fetcher.get(hostile.url("/moved")).not_modified
    with pytest.raises(HTTPStatusError):
        fetcher.get(hostile.url("/gone"))
    assert fetcher.get(hostile.url("/feed.xml")).not_modified
    assert len(hostile.requests) == 7 and hostile.connections == 1


# -- Retry-After ----------------------------------------------------------------------------------------------------

def test_retry_after_holds_the_host_for_every_fetcher_sharing_the_home(settings, transport, hostile):
    hostile.route("/feed.xml", Reply(429, b"slow down", {"Retry-After": "120"}))
    with pytest.raises(HTTPStatusError):
        Fetcher(settings, transport=transport).get(hostile.url("/feed.xml"))
    # a second fetcher on the same REGWIRE_HOME (another `regwire run`, forced or not) sends nothing to the host
    later = Fetcher(settings, transport=transport)
    with pytest.raises(RateLimitedError, match=r"rate-limited until \d\d:\d\d") as info:
        later.get(hostile.url("/news/other.html"))
    assert info.value.transient and 110 < info.value.until.timestamp() - time.time() <= 121
    assert hostile.requests == ["/feed.xml"]


def test_article_host_429_widens_its_delay_and_waits_a_short_retry_after(settings, transport, hostile):
    hostile.route("/a.html", Reply(429, b"", {"Retry-After": "1"}))
    hostile.route("/b.html", Reply(200, PAGE))
    fetcher = Fetcher(settings, transport=transport)
    with pytest.raises(HTTPStatusError):
        fetcher.get(hostile.url("/a.html"))
    assert fetcher.limiter.delay_for("127.0.0.1") >= 1.0  # widened from the configured 0
    started = time.monotonic()
    assert fetcher.get(hostile.url("/b.html")).status == 200
    assert time.monotonic() - started >= 0.5  # waited for the rest of the server's second


# -- robots.txt (RFC 9309) ------------------------------------------------------------------------------------------

ROBOTS = b"""User-agent: *
Disallow: /*/amp$
Disallow: /*.pdf$
Disallow: /news/
Allow: /news/public/
Disallow: /tie
Allow: /tie
Disallow: /search
"""


@pytest.mark.parametrize("path, allowed", [
    ("/story/amp", False),  # * and $: ends with /amp
    ("/story/amp/more", True),  # $ anchors the end
    ("/files/report.pdf", False),
    ("/files/report.pdf?download=1", True),
    ("/news/a.html", False),
    ("/news/public/a.html", True),  # the longest match wins
    ("/tie", True),  # Allow wins a tie of equal length
    ("/search?q=x", False),
    ("/about", True),
])
def test_robots_rules_follow_rfc_9309(path, allowed):
    cache = RobotsCache(lambda origin: (200, ROBOTS.decode()))
    assert cache.allowed("http://news.test", "http://news.test" + path) is allowed


def test_robots_wildcards_are_obeyed_over_http(fetcher, hostile):
    hostile.route("/robots.txt", Reply(200, ROBOTS))
    hostile.route("/story/amp", Reply(200, PAGE))
    with pytest.raises(RobotsDisallowedError):
        fetcher.get(hostile.url("/story/amp"), obey_robots=True)
    assert hostile.requests == ["/robots.txt"]


def test_unreachable_robots_is_asked_again_later_and_a_good_copy_stands_in():
    answers = [(200, "User-agent: *\nDisallow: /x\n"), (503, ""), (200, "User-agent: *\nDisallow: /y\n")]
    now = [0.0]
    cache = RobotsCache(lambda origin: answers.pop(0), ttl=100, retry=10, clock=lambda: now[0])
    assert not cache.allowed("http://h", "http://h/x")
    now[0] = 101  # expired: robots.txt answers 503, the copy read before stands in
    assert not cache.allowed("http://h", "http://h/x") and cache.allowed("http://h", "http://h/y")
    now[0] = 112  # the unreachable answer is kept only `retry` seconds
    assert cache.allowed("http://h", "http://h/x") and not cache.allowed("http://h", "http://h/y")


def test_address_guard_refusal_is_not_called_robots(tmp_path, transport, hostile):
    strict = Settings(home=tmp_path, host_delay=0)  # loopback not allow-listed
    with pytest.raises(BlockedURLError, match="blocked by the address guard") as info:
        Fetcher(strict, transport=transport).get(hostile.url("/news/a.html"), obey_robots=True)
    assert "robots" not in str(info.value) and hostile.requests == []


# -- address guard --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address, form", [
    ("2002:a9fe:a9fe::1", "6to4"),  # 169.254.169.254, the metadata service
    ("2002:7f00:1::1", "6to4"),  # 127.0.0.1
    ("2002:0a00:0001::1", "6to4"),  # 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),  # client 10.0.0.1 (bits inverted)
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("64:ff9b:1::c0a8:101", "NAT64"),  # local-use prefix, 192.168.1.1
])
def test_guard_refuses_ipv6_forms_embedding_internal_ipv4(settings, transport, address, form):
    fetcher = Fetcher(settings, transport=transport, resolver=loopback_resolver({"evil.test": address}))
    with pytest.raises(BlockedURLError, match="blocked by the address guard") as info:
        fetcher.get("http://evil.test/latest/meta-data/")
    assert form in str(info.value) or "private" in str(info.value) or "non-public" in str(info.value)
    assert transport.refused == []


def test_embedded_ipv4_forms_are_named_by_their_form():
    policy = AddressPolicy()
    assert "6to4" in policy.refusal(ipaddress.ip_address("2002:a9fe:a9fe::1"))
    assert "NAT64" in policy.refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
    # NAT64 of a public address: not refused for what it embeds (Python's is_global may still call it non-public)
    assert "embedding" not in (policy.refusal(ipaddress.ip_address("64:ff9b::808:808")) or "")


# -- bad URLs -------------------------------------------------------------------------------------------------------

def test_redirect_to_an_invalid_idna_host_is_an_invalid_url(fetcher, hostile):
    hostile.route("/go", Reply(302, b"", {"Location": "http://xn--ls8h/x.html"}))
    with pytest.raises(InvalidURLError, match="invalid URL") as info:
        fetcher.get(hostile.url("/go"))
    assert not info.value.transient


def test_invalid_idna_url_is_an_invalid_url(fetcher):
    with pytest.raises(InvalidURLError):
        fetcher.get("http://xn--ls8h/x.html")

