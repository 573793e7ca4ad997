"""The one way regwire fetches a URL: guarded, polite, bounded in time, size and redirects.

Layers, outermost first: scheme check → robots.txt (article pages) → per-host slot → request through the guarded
transport → streamed body with a byte cap and a total deadline. Redirects are followed here, one hop at a time, so
every hop is vetted by the guard and counted against the cap.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from ..errors import (
    BlockedURLError,
    DeadlineExceededError,
    HTTPStatusError,
    InvalidURLError,
    RateLimitedError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    TooManyRedirectsError,
    TransportError,
)
from ..settings import Settings
from . import body
from .guard import URL_ERRORS, AddressPolicy, GuardedTransport, Resolver, check_scheme, parse_url, system_resolver
from .politeness import HostLimiter
from .redis_slots import slot_book
from .robots import RobotsCache

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: RFC 9309 2.5: at least 500 KiB of robots.txt must be parsed
ROBOTS_MAX_BYTES = 512 * 1024
#: the body of a 304, redirect or error read to keep its connection, at most
DRAIN_MAX_BYTES = 64 * 1024
#: the longest pause a server's Retry-After imposes on its host
MAX_HOLD = timedelta(days=1)
#: a host's pause shorter than this (seconds) is waited for; a longer one fails the request as rate-limited
MAX_HOLD_WAIT = 5.0
_SINGLE_BYTE = frozenset({"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(slots=True)
class FetchResult:
    url: str  #: the URL asked for
    final_url: str  #: after redirects
    status: int
    headers: httpx.Headers
    content: bytes = b""
    redirects: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        return decode_html(self.content, self.headers.get("content-type", ""))


def parse_retry_after(value: str | None, now: datetime | None = None) -> datetime | None:
    """Retry-After as an absolute time: it may be delta-seconds or an HTTP date."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _try_decode(content: bytes, charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return content.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None


def decode_html(content: bytes, content_type: str = "") -> str:
    """Decode a page: BOM, then the declared charset if the bytes agree with it, then <meta charset>, then UTF-8.

    Servers often declare ISO-8859-1 (or nothing) for pages that are really UTF-8; when the bytes are valid UTF-8 with
    non-ASCII characters, UTF-8 wins over a single-byte declaration, which would otherwise decode without error and
    silently produce mojibake.
    """
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if content.startswith(bom):
            return content[len(bom):].decode(codec, errors="replace")
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.IGNORECASE)
    header_charset = match.group(1).lower() if match else None
    meta = _META_CHARSET.search(content[:4096])
    meta_charset = meta.group(1).decode("ascii", "ignore").lower() if meta else None
    utf8 = _try_decode(content, "utf-8")
    for charset in (header_charset, meta_charset):
        if charset in _SINGLE_BYTE and utf8 is not None and not utf8.isascii():
            return utf8  # a single-byte label never fails to decode, so it cannot be trusted over valid UTF-8
        if (text := _try_decode(content, charset)) is not None:
            return text
    if utf8 is not None:
        return utf8
    return content.decode("windows-1252", errors="replace")


class Fetcher:
    """Fetches URLs for feeds and article pages. Thread-safe; one per run (it owns the connection pool)."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 resolver: Resolver = system_resolver, limiter: HostLimiter | None = None):
        self.settings = settings
        self.guard = GuardedTransport(transport or body.deadline_transport(),
                                      policy=AddressPolicy(settings.http.allow_networks), resolver=resolver)
        self.client = httpx.Client(
            transport=self.guard,
            follow_redirects=False,  # followed below, hop by hop, through the guard
            trust_env=False,  # an environment proxy would bypass the guard
            timeout=httpx.Timeout(settings.http.read_timeout, connect=settings.http.connect_timeout),
            headers={"User-Agent": settings.http.user_agent, "Accept-Encoding": body.ACCEPT_ENCODING},
        )
        # one booking per host for every process that shares the book: REGWIRE_HOME's files on one machine, or the
        # Redis of REGWIRE_HOST_BOOK for workers on several
        self.limiter = limiter or HostLimiter(settings.http.host_delay, settings.http.host_concurrency,
                                              book=slot_book(settings))
        self.robots = RobotsCache(self._fetch_robots, agent="regwire", ttl=settings.http.robots_ttl)
        self.requests = 0  # every request sent, for reports and tests

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch_robots(self, origin: str) -> tuple[int, str]:
        try:
            result = self.get(origin + "/robots.txt", max_bytes=ROBOTS_MAX_BYTES)
        except HTTPStatusError as exc:
            return exc.status, ""
        return result.status, result.text()

    def check_robots(self, url: str) -> None:
        parsed = parse_url(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        try:
            allowed = self.robots.allowed(origin, url)
        except BlockedURLError as exc:  # robots.txt lives on the page's own host: the page is refused, not robots
            raise BlockedURLError(url, exc.reason) from exc
        if not allowed:
            raise RobotsDisallowedError(url, "disallowed by robots.txt")
        if (delay := self.robots.crawl_delay(origin)) is not None:
            self.limiter.set_delay(parsed.host, delay)

    def get(self, url: str, *, headers: dict[str, str] | None = None, max_bytes: int | None = None,
            obey_robots: bool = False) -> FetchResult:
        """GET ``url``; 2xx and 304 return a :class:`FetchResult`, everything else raises a :class:`FetchError`.

        The total deadline covers every hop's connect, headers and body; time spent waiting for the host's slot
        (politeness) is not counted against it.
        """
        max_bytes = max_bytes or self.settings.http.max_page_bytes
        budget = self.settings.http.total_timeout
        current, visited, hops = url, [url], 0
        while True:
            check_scheme(current)
            if obey_robots and self.settings.http.obey_robots:
                self.check_robots(current)
            host = parse_url(current).host
            self._refuse_if_held(current, host)
            with self.limiter.slot(host):
                started = time.monotonic()
                result = self._request(current, headers or {}, max_bytes, started + budget)
            budget -= time.monotonic() - started
            if result.status not in REDIRECT_STATUSES:
                result.url, result.redirects = url, visited[1:]
                return result
            location = result.headers.get("location")
            if not location:
                raise HTTPStatusError(current, result.status, "redirect without Location")
            target = self._redirect_target(current, location)
            if target in visited:
                raise TooManyRedirectsError(url, f"redirect loop at {target}")
            hops += 1
            if hops > self.settings.http.max_redirects:
                raise TooManyRedirectsError(url, f"more than {self.settings.http.max_redirects} redirects")
            current = target
            visited.append(target)

    @staticmethod
    def _redirect_target(current: str, location: str) -> str:
        try:
            target = str(parse_url(current).join(location))
        except URL_ERRORS as exc:
            raise InvalidURLError(current, f"redirect to an invalid URL {location[:200]!r}: {exc}") from exc
        parse_url(target)  # a bad IDNA host in the redirect fails here, naming the target
        return target

    def _refuse_if_held(self, url: str, host: str) -> None:
        """A host that asked for a pause (Retry-After) gets none of our requests until it ends, forced or not."""
        held = self.limiter.held_until(host)
        if held - time.time() > MAX_HOLD_WAIT:  # a short pause is waited for in the host's slot
            raise RateLimitedError(url, datetime.fromtimestamp(held, UTC))

    def _note_retry_after(self, url: str, response: httpx.Response) -> None:
        if response.status_code not in (429, 503):
            return
        until = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code == 429 and until is None:
            until = datetime.now(UTC) + timedelta(seconds=max(60.0, self.settings.http.host_delay))
        if until is not None:
            until = min(until, datetime.now(UTC) + MAX_HOLD)
            self.limiter.hold(parse_url(url).host, until.timestamp())

    def _request(self, url: str, headers: dict[str, str], max_bytes: int, deadline_at: float) -> FetchResult:
        self.requests += 1
        total = self.settings.http.total_timeout
        try:
            with body.deadline(deadline_at), self.client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in REDIRECT_STATUSES or status == 304 or status >= 400:
                    _drain(response)  # read a small body so that the connection goes back to the pool
                    if status >= 400:
                        self._note_retry_after(url, response)
                        raise HTTPStatusError(url, status, response.reason_phrase, response.headers.get("retry-after"))
                    return FetchResult(url, url, status, response.headers)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ResponseTooLargeError(url, f"Content-Length {declared} exceeds the {max_bytes}-byte cap")
                content = body.read_bounded(url, _until(response.iter_raw(), url, deadline_at, total),
                                            response.headers.get("content-encoding", ""), max_bytes)
                return FetchResult(url, url, status, response.headers, content)
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline_at - 0.05:
                raise DeadlineExceededError(url, f"response not complete within {total:g}s") from exc
            raise TransportError(url, f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(url, f"{type(exc).__name__}: {exc}") from exc
        except URL_ERRORS as exc:  # httpx reads a redirect's Location while building the response
            raise InvalidURLError(url, f"invalid URL in the response: {type(exc).__name__}: {exc}") from exc


def _until(chunks: Iterator[bytes], url: str, deadline_at: float, total: float) -> Iterator[bytes]:
    for chunk in chunks:
        if time.monotonic() > deadline_at:
            raise DeadlineExceededError(url, f"response not complete within {total:g}s")
        yield chunk


def _drain(response: httpx.Response) -> None:
    """Read what is left of a body we do not keep (304, redirect, error), up to a few KiB: a fully read response
    lets its keep-alive connection be reused; a longer one is closed instead."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > DRAIN_MAX_BYTES:
            break
