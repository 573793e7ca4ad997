"""The sources stage: which sites to watch (the sources file), their feeds and sitemaps parsed into items, and when
each is polled next (adaptive intervals, per-feed state transitions).

    load_sources(path)              the sources file, validated → [:class:`Source`]
    parse_feed(content, url)        RSS 0.9x/1.0/2.0, Atom, JSON Feed → [:class:`~pipeline.models.FeedItem`]
    schedule.after_success(...)     the feed's next state after a poll (and after_failure, is_due, reenable)
    adaptive.choose_interval(...)   the next interval from entry dates, publisher hints and bounds
    sitemaps.read_sitemap(...)      news sitemaps, sitemaps and indexes → recent items (within the window)
    discover.discover(fetcher, url) a site's feeds and sitemaps, as a sources entry
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["Source", "default_sources_path", "load_sources"], ".config"),
    **dict.fromkeys(["ParsedFeed", "html_to_text", "parse_feed", "parse_feed_items"], ".feeds"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = ["ParsedFeed", "Source", "default_sources_path", "html_to_text", "load_sources", "parse_feed",
           "parse_feed_items"]

if TYPE_CHECKING:
    from .config import Source, default_sources_path, load_sources
    from .feeds import ParsedFeed, html_to_text, parse_feed, parse_feed_items
