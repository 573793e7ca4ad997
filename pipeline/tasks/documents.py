"""What a polled document says, whether a feed or a sitemap: its items, and when to poll it next.

Feeds are parsed by :func:`pipeline.sources.parse_feed_items`; a source's sitemaps by :mod:`pipeline.sources.sitemaps`
(only entries within the sitemap window). Either way the next interval adapts to the entry dates the document
carries and to the publisher's hints (:mod:`pipeline.sources.adaptive`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from ..errors import FeedItemError
from ..fetch import FetchResult
from ..models import FeedItem, FeedState
from ..sources import Source
from ..sources.adaptive import (
    Bounds,
    PollInterval,
    choose_interval,
    entry_rhythm,
    feed_hint,
    fixed_interval,
    max_age,
)
from ..sources.sitemaps import read_sitemap
from .context import TaskContext
from .workers import parse_feed_in_worker


@dataclass
class Document:
    items: list[FeedItem]
    dates: list[datetime | None]
    hint: int | None = None
    hint_source: str = ""
    #: problems that cost some items but not the document (a child sitemap that failed)
    errors: list[str] = field(default_factory=list)
    #: sitemap indexes: the children read, to store on the feed's state
    sitemap_children: dict[str, str] | None = None
    #: feed items skipped for a bad field (each error names the item and field)
    skipped: list[FeedItemError] = field(default_factory=list)


def is_sitemap(source: Source, url: str) -> bool:
    return url in source.sitemaps and url not in source.feeds


def read_document(ctx: TaskContext, source: Source, state: FeedState, result: FetchResult, now: datetime) -> Document:
    """The items of a fetched feed or sitemap (raises :class:`~pipeline.errors.FeedParseError` when it is neither)."""
    if is_sitemap(source, state.feed_url):
        window = source.sitemap_window or ctx.settings.schedule.sitemap_window
        read = read_sitemap(ctx.fetcher, result.final_url, result.content, cutoff=now - timedelta(seconds=window),
                            max_bytes=ctx.settings.http.max_feed_bytes,
                            max_children=ctx.settings.schedule.sitemap_max_children,
                            seen_children=state.sitemap_children)
        return Document(read.items, read.dates, errors=read.errors, sitemap_children=read.children)
    parsed = ctx.extraction.call(parse_feed_in_worker, result.content, result.final_url,
                                 result.headers.get("content-type"), what=state.feed_url)  # lxml: in a worker
    hint, hint_source = feed_hint(result.content)
    items = parsed.items
    return Document(items, [i.published or i.updated for i in items], hint, hint_source, skipped=list(parsed.skipped))


def next_interval(ctx: TaskContext, source: Source, state: FeedState, result: FetchResult, now: datetime,
                  document: Document | None) -> PollInterval:
    """The feed's next interval; after a 304 (``document`` None) from what the last full response showed."""
    fixed = fixed_interval(source, ctx.settings.schedule)
    if fixed is not None:
        return fixed
    host = urlsplit(state.feed_url).hostname or ""
    bounds = Bounds.for_source(source, ctx.settings.schedule, ctx.fetcher.limiter.delay_for(host))
    if document is None:  # a 304: the document is the one last seen
        observed, how, hint, hint_source = state.observed_interval, "", state.feed_hint, ""
    else:
        (observed, how), hint, hint_source = entry_rhythm(document.dates, now), document.hint, document.hint_source
    return choose_interval(bounds=bounds, default=ctx.settings.schedule.default_poll_interval, observed=observed,
                           observed_how=how, hint=hint, hint_source=hint_source, cache_max_age=max_age(result.headers))
