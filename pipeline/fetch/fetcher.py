"""The one way regwire fetches a URL: guarded, polite, bounded in time, size and redirects.

Layers, outermost first: scheme check → robots.txt (article pages) → per-host slot → request through the guarded
transport → streamed body with a byte cap and a total deadline. Redirects are followed here, one hop at a time, so
every hop is vetted by the guard and counted against the cap.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from ..errors import (
    DeadlineExceededError,
    HTTPStatusError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    TooManyRedirectsError,
    TransportError,
)
from ..settings import Settings
from .guard import AddressPolicy, GuardedTransport, Resolver, check_scheme, system_resolver
from .politeness import FileSlotBook, HostLimiter
from .robots import RobotsCache

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
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
        self.guard = GuardedTransport(transport, policy=AddressPolicy(settings.http.allow_networks), resolver=resolver)
        self.client = httpx.Client(
            transport=self.guard,
            follow_redirects=False,  # followed below, hop by hop, through the guard
            trust_env=False,  # an environment proxy would bypass the guard
            timeout=httpx.Timeout(settings.http.read_timeout, connect=settings.http.connect_timeout),
            headers={"User-Agent": settings.http.user_agent},
        )
        # one booking per host for every process on this machine that shares REGWIRE_HOME (CLI runs, Airflow tasks)
        self.limiter = limiter or HostLimiter(settings.http.host_delay, settings.http.host_concurrency,
                                              book=FileSlotBook(settings.home / "hosts"))
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
            result = self.get(origin + "/robots.txt", max_bytes=512 * 1024)
        except HTTPStatusError as exc:
            return exc.status, ""
        return result.status, result.text()

    def check_robots(self, url: str) -> None:
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        if not self.robots.allowed(origin, url):
            raise RobotsDisallowedError(url, "disallowed by robots.txt")
        if (delay := self.robots.crawl_delay(origin)) is not None:
            self.limiter.set_delay(parsed.host, delay)

    def get(self, url: str, *, headers: dict[str, str] | None = None, max_bytes: int | None = None,
            obey_robots: bool = False) -> FetchResult:
        """GET ``url``; 2xx and 304 return a :class:`FetchResult`, everything else raises a :class:`FetchError`."""
        max_bytes = max_bytes or self.settings.http.max_page_bytes
        deadline = time.monotonic() + self.settings.http.total_timeout
        current, visited, hops = url, [url], 0
        while True:
            check_scheme(current)
            if obey_robots and self.settings.http.obey_robots:
                self.check_robots(current)
            response_url = httpx.URL(current)
            with self.limiter.slot(response_url.host):
                result = self._request(current, headers or {}, max_bytes, deadline)
            if result.status not in REDIRECT_STATUSES:
                result.url, result.redirects = url, visited[1:]
                return result
            location = result.headers.get("location")
            if not location:
                raise HTTPStatusError(current, result.status, "redirect without Location")
            target = str(response_url.join(location))
            if target in visited:
                raise TooManyRedirectsError(url, f"redirect loop at {target}")
            hops += 1
            if hops > self.settings.http.max_redirects:
                raise TooManyRedirectsError(url, f"more than {self.settings.http.max_redirects} redirects")
            current = target
            visited.append(target)

    def _request(self, url: str, headers: dict[str, str], max_bytes: int, deadline: float) -> FetchResult:
        self.requests += 1
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code in REDIRECT_STATUSES or response.status_code == 304:
                    return FetchResult(url, url, response.status_code, response.headers)
                if response.status_code >= 400:
                    raise HTTPStatusError(url, response.status_code, response.reason_phrase,
                                          response.headers.get("retry-after"))
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ResponseTooLargeError(url, f"Content-Length {declared} exceeds the {max_bytes}-byte cap")
                body = bytearray()
                for chunk in response.iter_bytes():  # decompressed: the cap also stops compression bombs
                    body += chunk
                    if len(body) > max_bytes:
                        raise ResponseTooLargeError(url, f"body exceeds the {max_bytes}-byte cap")
                    if time.monotonic() > deadline:
                        raise DeadlineExceededError(
                            url, f"response not complete within {self.settings.http.total_timeout:g}s")
                if time.monotonic() > deadline:
                    raise DeadlineExceededError(
                        url, f"response not complete within {self.settings.http.total_timeout:g}s")
                return FetchResult(url, url, response.status_code, response.headers, bytes(body))
        except httpx.TimeoutException as exc:
            raise TransportError(url, f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(url, f"{type(exc).__name__}: {exc}") from exc
