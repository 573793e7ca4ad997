"""The fetcher over real HTTP on 127.0.0.1: SSRF guard, redirects, byte cap, total deadline, charsets, robots."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import LoopbackOnlyTransport, loopback_resolver

from pipeline.demo import Response
from pipeline.errors import (
    BlockedURLError,
    DeadlineExceededError,
    HTTPStatusError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    RobotsUnavailableError,
    TooManyRedirectsError,
)
from pipeline.fetch import AddressPolicy, Fetcher, GuardedTransport, HostLimiter, decode_html, parse_retry_after
from pipeline.settings import Settings


def guarded_fetcher(settings: Settings, transport: LoopbackOnlyTransport, names: dict[str, str]) -> Fetcher:
    return Fetcher(settings, transport=transport, resolver=loopback_resolver(names))


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "192.168.1.10", "172.16.0.5", "100.64.0.1",
                                     "::ffff:10.0.0.1", "fe80::1", "0.0.0.0"])
def test_guard_refuses_names_resolving_to_internal_addresses(settings, transport, address):
    fetcher = guarded_fetcher(settings, transport, {"evil.test": address})
    with pytest.raises(BlockedURLError) as info:
        fetcher.get("http://evil.test/latest/meta-data/")
    assert "refused" in str(info.value) and "evil.test" in str(info.value)
    assert transport.refused == [] and fetcher.requests == 1  # refused before any connection


def test_guard_refuses_loopback_unless_allow_listed(tmp_path, transport, site):
    strict = Settings(home=tmp_path, allow_networks=[])
    with pytest.raises(BlockedURLError, match="loopback"):
        Fetcher(strict, transport=transport).get(site.url("/robots.txt"))
    assert site.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://example.org/x", "gopher://x/"])
def test_only_http_and_https_are_fetched(settings, transport, url):
    with pytest.raises(BlockedURLError, match="scheme"):
        Fetcher(settings, transport=transport).get(url)
    assert transport.refused == []


def test_redirect_to_metadata_address_is_refused_at_the_hop(settings, transport, site):
    site.route("/go", Response(302, b"", {"Location": "http://metadata.test/latest/"}))
    fetcher = guarded_fetcher(settings, transport, {"metadata.test": "169.254.169.254"})
    with pytest.raises(BlockedURLError, match="169.254.169.254"):
        fetcher.get(site.url("/go"))
    assert transport.refused == []


def test_redirect_to_file_scheme_is_refused(settings, transport, site):
    site.route("/go", Response(301, b"", {"Location": "file:///etc/passwd"}))
    with pytest.raises(BlockedURLError, match="scheme"):
        Fetcher(settings, transport=transport).get(site.url("/go"))


def test_guard_connects_to_the_vetted_address_with_the_original_host_header(settings, transport, site):
    fetcher = guarded_fetcher(settings, transport, {"news.test": "127.0.0.1"})
    port = httpx.URL(site.base_url).port
    result = fetcher.get(f"http://news.test:{port}/robots.txt")
    assert result.status == 200
    assert site.requests[-1][2]["Host"] == f"news.test:{port}"


def test_redirect_loop_and_cap(settings, transport, site):
    site.route("/a", Response(302, b"", {"Location": "/b"}))
    site.route("/b", Response(302, b"", {"Location": "/a"}))
    with pytest.raises(TooManyRedirectsError, match="loop"):
        Fetcher(settings, transport=transport).get(site.url("/a"))
    for i in range(10):
        site.route(f"/r{i}", Response(302, b"", {"Location": f"/r{i + 1}"}))
    with pytest.raises(TooManyRedirectsError, match="more than 5"):
        Fetcher(settings, transport=transport).get(site.url("/r0"))


def test_redirect_is_followed_and_recorded(settings, transport, site):
    site.route("/old", Response(301, b"", {"Location": "/robots.txt"}))
    result = Fetcher(settings, transport=transport).get(site.url("/old"))
    assert result.final_url == site.url("/robots.txt") and result.redirects == [site.url("/robots.txt")]


def test_endless_response_stops_at_the_byte_cap(settings, transport, site):
    def endless():
        while True:
            yield b"x" * 65536

    site.route("/endless", lambda _req: Response(200, endless(), {"Content-Type": "application/rss+xml"}))
    started = time.monotonic()
    with pytest.raises(ResponseTooLargeError, match="1048576-byte cap"):
        Fetcher(settings, transport=transport).get(site.url("/endless"), max_bytes=1024 * 1024)
    assert time.monotonic() - started < 3


def test_declared_content_length_over_the_cap_is_refused_before_reading(settings, transport, site):
    site.route("/big", Response(200, b"y" * 5000, {"Content-Type": "text/html"}))
    with pytest.raises(ResponseTooLargeError, match="Content-Length 5000"):
        Fetcher(settings, transport=transport).get(site.url("/big"), max_bytes=1000)


def test_trickling_server_hits_the_total_deadline(tmp_path, transport, site):
    def trickle():
        for _ in range(100):
            time.sleep(0.2)  # every chunk arrives well within the read timeout...
            yield b"<"

    site.route("/slow", lambda _req: Response(200, trickle(), {"Content-Type": "text/html"}))
    settings = Settings(home=tmp_path, allow_networks=["127.0.0.0/8"], read_timeout=1, total_timeout=1.5,
                        host_delay=0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="within 1.5s"):
        Fetcher(settings, transport=transport).get(site.url("/slow"))
    assert time.monotonic() - started < 3  # ...but the whole response may not take longer than the deadline


def test_error_status_carries_retry_after(settings, transport, site):
    site.route("/busy", Response(429, b"slow down", {"Retry-After": "120"}))
    with pytest.raises(HTTPStatusError) as info:
        Fetcher(settings, transport=transport).get(site.url("/busy"))
    assert info.value.status == 429 and info.value.transient and info.value.retry_after is not None


def test_retry_after_accepts_seconds_and_http_dates():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30", now) == now + timedelta(seconds=30)
    assert parse_retry_after("Thu, 01 Jan 2026 00:05:00 GMT", now) == now + timedelta(minutes=5)
    assert parse_retry_after("soon", now) is None


def test_robots_disallowed_page_is_never_requested(settings, transport, site):
    fetcher = Fetcher(settings, transport=transport)
    with pytest.raises(RobotsDisallowedError):
        fetcher.get(site.url("/members/premium-analysis.html"), obey_robots=True)
    assert "/members/premium-analysis.html" not in site.paths_requested()
    assert site.paths_requested() == ["/robots.txt"]
    fetcher.get(site.url("/news/kazakhstan-crypto-cash-conversion.html"), obey_robots=True)
    assert site.paths_requested().count("/robots.txt") == 1  # cached per host


def test_robots_txt_server_error_means_not_now_and_is_transient(settings, transport, empty_site):
    empty_site.route("/robots.txt", Response(503, b""))
    empty_site.route("/page", Response(200, b"<p>hi</p>"))
    with pytest.raises(RobotsUnavailableError, match="unreachable") as info:
        Fetcher(settings, transport=transport).get(empty_site.url("/page"), obey_robots=True)
    assert info.value.transient and not isinstance(info.value, RobotsDisallowedError)  # not a verdict on the page
    assert "/page" not in empty_site.paths_requested()


def test_host_limiter_spaces_requests_to_one_host():
    clock = [0.0]
    slept: list[float] = []
    limiter = HostLimiter(delay=2.0, clock=lambda: clock[0], sleep=lambda s: (slept.append(s), clock.__setitem__(0, clock[0] + s)))
    for _ in range(3):
        with limiter.slot("a.example"):
            pass
    with limiter.slot("b.example"):
        pass
    assert slept == [2.0, 2.0]  # the other host did not wait
    limiter.set_delay("a.example", 0.5)  # a robots Crawl-delay below the minimum never shrinks it
    with limiter.slot("a.example"):
        pass
    assert slept[-1] == 2.0


def test_charset_declared_versus_actual():
    cp1252 = "Prix: 10 € – café".encode("cp1252")
    assert decode_html(b'<meta charset="windows-1252">' + cp1252, "text/html") .endswith("10 € – café")
    utf8 = "Prix: 10 € – café".encode()
    # a server that claims ISO-8859-1 for a UTF-8 page must not produce mojibake
    assert decode_html(utf8, "text/html; charset=ISO-8859-1") == "Prix: 10 € – café"
    # a wrong multi-byte declaration falls back to what the bytes are
    assert decode_html(cp1252, "text/html; charset=utf-8").endswith("café")
    assert decode_html(b"\xef\xbb\xbfhello", "text/html; charset=latin-1") == "hello"


def test_address_policy_allow_list_is_exact():
    import ipaddress

    policy = AddressPolicy([ipaddress.ip_network("127.0.0.0/8")])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) == "private address"
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local/metadata address"
    assert policy.refusal(ipaddress.ip_address("93.184.216.34")) is None  # public: allowed (never contacted here)
    assert GuardedTransport(policy=policy, resolver=loopback_resolver()).vet(
        httpx.URL("http://localhost/")).is_loopback
