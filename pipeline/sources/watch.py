"""Watching feeds for change without a worker: one conditional GET per feed, asynchronously, answering only
"did this feed get new or updated items?". The Airflow triggerer runs it (:mod:`pipeline.airflow_trigger`); the
ingest itself stays in :func:`pipeline.tasks.poll_source`, which runs only when a watch says a feed changed.

A watch never writes the feed's state: the poll that follows uses the stored validators, so it sees the same change.
It keeps its own validators and item fingerprints in memory so that one change fires once; at start (a restarted
triggerer) it takes the validators from the store and compares items with the articles the store holds, so nothing
already ingested fires again.

Every request goes through the address guard (:class:`~pipeline.fetch.guard.AsyncGuardedTransport`, every redirect
hop too) and books its start in the same per-host slot book as the fetcher (``REGWIRE_HOME/hosts``), so watching
and polling one host share its politeness. A host holding a Retry-After is not asked until the hold ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from ..errors import (
    DeadlineExceededError,
    FeedParseError,
    FetchError,
    HTTPStatusError,
    ResponseTooLargeError,
    TooManyRedirectsError,
    TransportError,
)
from ..fetch import body
from ..fetch.guard import URL_ERRORS, AddressPolicy, AsyncGuardedTransport, Resolver, parse_url, system_resolver
from ..fetch.politeness import FileSlotBook, SlotBook
from ..models import FeedItem, FeedState
from ..settings import Settings
from ..store.base import KnownArticle, Store

if TYPE_CHECKING:
    from ..store.backend import Backend
from .feeds import parse_feed_items

log = logging.getLogger("regwire.watch")

#: item URLs carried in a change (the poll reads the feed itself; these are for logs and the event's extra)
MAX_CHANGED_LISTED = 20


@dataclass
class FeedChange:
    """What one watch of a feed found: its status, and the items that are new or updated (empty: no change)."""

    source: str
    feed_url: str
    status: int
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)

    def as_extra(self) -> dict[str, object]:
        """The asset event's extra: which source and feed changed, and how."""
        return {"source": self.source, "feed": self.feed_url, "status": self.status, "new": len(self.new),
                "updated": len(self.updated), "items": (self.new + self.updated)[:MAX_CHANGED_LISTED]}


@dataclass
class _Seen:
    etag: str | None = None
    last_modified: str | None = None
    #: canonical URL → the item's updated time ("" when the feed gives none)
    items: dict[str, str] | None = None


def _fingerprint(items: Sequence[FeedItem]) -> dict[str, str]:
    return {i.canonical_url: i.updated.isoformat() if i.updated else "" for i in items}


class FeedWatcher:
    """Conditional GETs of feeds from an event loop. ``feed_state`` and ``known_articles`` read the store (called in a
    worker thread); both default to the settings' store, opened on first use."""

    def __init__(self, settings: Settings, *, resolver: Resolver = system_resolver, book: SlotBook | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 feed_state: Callable[[str], FeedState | None] | None = None,
                 known_articles: Callable[[Sequence[str]], dict[str, KnownArticle]] | None = None):
        self.settings = settings
        self.book = book or FileSlotBook(settings.home / "hosts")
        self.client = httpx.AsyncClient(
            transport=AsyncGuardedTransport(transport, policy=AddressPolicy(settings.http.allow_networks),
                                            resolver=resolver),
            follow_redirects=True, max_redirects=settings.http.max_redirects,  # every hop passes the guard
            trust_env=False,  # an environment proxy would bypass the guard
            timeout=httpx.Timeout(settings.http.read_timeout, connect=settings.http.connect_timeout),
            headers={"User-Agent": settings.http.user_agent, "Accept-Encoding": body.ACCEPT_ENCODING},
        )
        self._feed_state, self._known = feed_state, known_articles
        self._backend: Backend | None = None
        #: (source, feed) → what this watcher saw last (two sources listing one feed each get their event)
        self._seen: dict[tuple[str, str], _Seen] = {}
        self.requests = 0

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._backend is not None:
            self._backend.close()

    # -- the store (blocking: called in a thread) ---------------------------------------------------------------

    def _store(self) -> Store:
        if self._backend is None:
            from ..store import open_backend

            self._backend = open_backend(self.settings)
        return self._backend.articles

    def _stored_state(self, feed_url: str) -> FeedState | None:
        return self._feed_state(feed_url) if self._feed_state else self._store().get_feed_state(feed_url)

    def _stored_articles(self, urls: Sequence[str]) -> dict[str, KnownArticle]:
        return self._known(urls) if self._known else self._store().known_articles(urls)

    # -- one watch ------------------------------------------------------------------------------------------------

    async def check(self, source: str, feed_url: str) -> FeedChange | None:
        """Watch ``feed_url`` once: the change found, or None when the host holds a Retry-After (not asked).
        Raises a :class:`~pipeline.errors.FetchError` or :class:`~pipeline.errors.FeedParseError` naming the feed."""
        seen = self._seen.get((source, feed_url))
        if seen is None:
            state = await asyncio.to_thread(self._stored_state, feed_url)
            seen = _Seen(state.etag if state else None, state.last_modified if state else None)
            self._seen[(source, feed_url)] = seen
        host = parse_url(feed_url).host
        if not await self._polite_start(host):
            return None
        headers = {}
        if seen.etag:
            headers["If-None-Match"] = seen.etag
        if seen.last_modified:
            headers["If-Modified-Since"] = seen.last_modified
        status, response_headers, content = await self._get(feed_url, headers)
        if status == 304:
            return FeedChange(source, feed_url, 304)
        parsed = parse_feed_items(content, feed_url, response_headers.get("content-type"))
        items = parsed.items
        change = FeedChange(source, feed_url, status)
        if seen.items is None:  # first look since start: compare with what the store holds
            known = await asyncio.to_thread(self._stored_articles, [i.canonical_url for i in items])
            for item in items:
                stored = known.get(item.canonical_url)
                if stored is None:
                    change.new.append(item.canonical_url)
                elif item.updated and (stored.feed_updated is None or item.updated > stored.feed_updated):
                    change.updated.append(item.canonical_url)
        else:
            for url, updated in _fingerprint(items).items():
                if url not in seen.items:
                    change.new.append(url)
                elif updated != seen.items[url]:
                    change.updated.append(url)
        seen.items = _fingerprint(items)
        seen.etag, seen.last_modified = response_headers.get("etag"), response_headers.get("last-modified")
        return change

    async def _polite_start(self, host: str) -> bool:
        """Wait for the host's next slot in the shared book; False when it holds a Retry-After (skip this round)."""
        if await asyncio.to_thread(self.book.held_until, host) > time.time():
            return False
        delay = self.settings.http.host_delay
        if delay > 0:
            start = await asyncio.to_thread(self.book.reserve, host, delay, time.time())
            if (wait := start - time.time()) > 0:
                await asyncio.sleep(wait)
        return True

    def _hold_if_asked(self, url: str, response: httpx.Response) -> None:
        """A 429/503 with Retry-After holds the host in the shared book: no watch or poll asks it until then."""
        from ..fetch.fetcher import MAX_HOLD, parse_retry_after

        until = parse_retry_after(response.headers.get("retry-after")) if response.status_code in (429, 503) else None
        if until is not None:
            until = min(until, datetime.now(UTC) + MAX_HOLD)
            self.book.hold(parse_url(url).host, until.timestamp())

    async def _get(self, url: str, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        self.requests += 1
        cap = self.settings.http.max_feed_bytes
        try:
            async with asyncio.timeout(self.settings.http.total_timeout):
                async with self.client.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        self._hold_if_asked(url, response)
                        raise HTTPStatusError(url, response.status_code, response.reason_phrase,
                                              response.headers.get("retry-after"))
                    if response.status_code == 304:
                        return 304, response.headers, b""
                    chunks, received = [], 0
                    async for chunk in response.aiter_bytes():  # decoded: the cap holds after decompression
                        received += len(chunk)
                        if received > cap:
                            raise ResponseTooLargeError(url, f"feed exceeds the {cap}-byte cap")
                        chunks.append(chunk)
                    return response.status_code, response.headers, b"".join(chunks)
        except TimeoutError as exc:
            raise DeadlineExceededError(url, f"response not complete within {self.settings.http.total_timeout:g}s") \
                from exc
        except httpx.TooManyRedirects as exc:
            raise TooManyRedirectsError(url, f"more than {self.settings.http.max_redirects} redirects") from exc
        except httpx.HTTPError as exc:
            raise TransportError(url, f"{type(exc).__name__}: {exc}") from exc
        except URL_ERRORS as exc:
            raise TransportError(url, f"invalid URL in the response: {type(exc).__name__}: {exc}") from exc


async def watch_once(watcher: FeedWatcher, feeds: Sequence[tuple[str, str]]) -> list[FeedChange]:
    """Watch every (source, feed) once, concurrently; changed feeds are returned, failures logged (a feed that fails
    is the poll's business: the timetable DAG or the next poll records it)."""
    async def one(source: str, feed_url: str) -> FeedChange | None:
        try:
            return await watcher.check(source, feed_url)
        except (FetchError, FeedParseError) as exc:
            log.warning("watch of %s (%s) failed: %s", feed_url, source, exc)
            return None

    results = await asyncio.gather(*(one(s, f) for s, f in feeds))
    return [r for r in results if r is not None and r.changed]


