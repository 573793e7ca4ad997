"""Sitemaps as sources: Google news sitemaps (``news:publication_date``, ``news:title``), plain sitemaps (``lastmod``)
and sitemap indexes, read into the same :class:`FeedItem` records as feeds.

Only recent entries count: an entry dated (publication date, else lastmod) before the window, or not dated at all,
is ignored, so a first poll never crawls a site's archive. An index's children are read newest first, at most
``max_children`` a poll, and a child whose ``lastmod`` has not changed since it was last read is not fetched again;
children are fetched through the same guarded, polite fetcher (robots.txt obeyed, byte cap), one level deep.
Documents declaring XML entities are refused, as for feeds; gzip-compressed sitemaps (``.xml.gz``) are inflated
within the byte cap.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lxml import etree

from ..errors import FeedParseError, RegwireError
from ..models import FeedItem
from ..urls import canonicalize_url

if TYPE_CHECKING:
    from ..fetch import Fetcher

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: datetime | None = None
    #: the raw lastmod text (an index remembers it per child to skip unchanged children)
    lastmod_text: str = ""
    published: datetime | None = None
    title: str = ""
    language: str | None = None

    @property
    def date(self) -> datetime | None:
        return self.published or self.lastmod


@dataclass(frozen=True)
class Sitemap:
    is_index: bool
    entries: list[SitemapEntry]


@dataclass
class SitemapRead:
    """What one poll of a sitemap found: recent items, every entry's date (for adaptive polling), the children read."""

    items: list[FeedItem] = field(default_factory=list)
    dates: list[datetime | None] = field(default_factory=list)
    #: child sitemap URL → the lastmod text it had when read (sitemap indexes only)
    children: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    too_old: int = 0
    undated: int = 0


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """A W3C datetime (``2024-05-02``, ``2024-05-02T08:00Z``, ``…+01:00``) in UTC; None when absent or malformed."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def inflate(content: bytes, url: str, max_bytes: int) -> bytes:
    """The document itself: gzip-compressed sitemaps are inflated, never beyond ``max_bytes``."""
    if not content.startswith(_GZIP_MAGIC):
        return content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(content, max_bytes + 1)
    except zlib.error as exc:
        raise FeedParseError(url, f"not a valid gzip sitemap: {exc}") from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise FeedParseError(url, f"gzip sitemap inflates beyond the {max_bytes}-byte cap")
    return out


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""  # "{namespace}loc" → "loc"


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """The first child of each name, in any namespace: publishers get namespaces wrong."""
    named: dict[str, etree._Element] = {}
    for child in element if element is not None else ():
        named.setdefault(_local(child), child)
    return named


def _entry(node: etree._Element) -> SitemapEntry | None:
    fields = _children(node)
    loc = _text(fields.get("loc"))
    if not loc.lower().startswith(("http://", "https://")):
        return None  # a relative or missing <loc> is invalid in a sitemap; one bad entry never costs the others
    lastmod_text = _text(fields.get("lastmod"))
    news = _children(fields.get("news"))
    language = _text(_children(news.get("publication")).get("language"))
    return SitemapEntry(loc, parse_w3c_datetime(lastmod_text), lastmod_text,
                        parse_w3c_datetime(_text(news.get("publication_date"))), _text(news.get("title")),
                        language.split("-")[0].lower()[:2] or None)


def parse_sitemap(content: bytes, url: str) -> Sitemap:
    """A sitemap or sitemap index. Raises :class:`FeedParseError` naming the sitemap when it is neither.

    Read as a stream, each entry dropped from the tree once read: a 50,000-entry sitemap (the protocol's maximum)
    never sits in memory as a whole tree (bench/bench_sitemaps.py).
    """
    if _ENTITY_DECL.search(content[:65536]):
        raise FeedParseError(url, "document declares XML entities (<!ENTITY>); refused to prevent entity expansion")
    entries: list[SitemapEntry] = []
    events = etree.iterparse(io.BytesIO(content), events=("end",), tag=("{*}url", "{*}sitemap", "url", "sitemap"),
                             resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
    try:
        for _event, node in events:
            parent = node.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # only the root's children are entries (a <url> nested elsewhere is something else)
            if (entry := _entry(node)) is not None:
                entries.append(entry)
            node.clear()
            while node.getprevious() is not None:
                del parent[0]
        root = events.root
    except etree.XMLSyntaxError as exc:
        raise FeedParseError(url, f"not a sitemap: invalid XML: {exc}") from exc
    kind = _local(root) if root is not None else ""
    if kind not in ("urlset", "sitemapindex"):
        raise FeedParseError(url, f"not a sitemap: root element <{kind}> (expected <urlset> or <sitemapindex>)")
    return Sitemap(kind == "sitemapindex", entries)


def _item(entry: SitemapEntry, sitemap_url: str) -> FeedItem:
    return FeedItem(feed_url=sitemap_url, url=entry.loc, canonical_url=canonicalize_url(entry.loc, base=sitemap_url),
                    title=entry.title, published=entry.published, updated=entry.lastmod, language=entry.language)


def recent_items(sitemap: Sitemap, sitemap_url: str, cutoff: datetime, read: SitemapRead) -> None:
    """Add the entries dated on or after ``cutoff`` to ``read`` (newest first); count the others."""
    for entry in sitemap.entries:
        read.dates.append(entry.date)
        if entry.date is None:
            read.undated += 1
        elif entry.date < cutoff:
            read.too_old += 1
        else:
            read.items.append(_item(entry, sitemap_url))
    read.items.sort(key=lambda i: i.published or i.updated or cutoff, reverse=True)


def read_sitemap(fetcher: Fetcher, url: str, content: bytes, *, cutoff: datetime, max_bytes: int,
                 max_children: int = 10, seen_children: dict[str, str] | None = None) -> SitemapRead:
    """Recent items of a fetched sitemap; for an index, of its recent children (fetched here, one level deep).

    A child that cannot be fetched or parsed is reported in ``errors`` and left unread (so the next poll tries it
    again); the other children still count.
    """
    sitemap = parse_sitemap(inflate(content, url, max_bytes), url)
    read = SitemapRead()
    if not sitemap.is_index:
        recent_items(sitemap, url, cutoff, read)
        return read
    seen = seen_children or {}
    fresh = [c for c in sitemap.entries if c.lastmod is None or c.lastmod >= cutoff]
    fresh.sort(key=lambda c: c.lastmod or cutoff, reverse=True)
    read.too_old = len(sitemap.entries) - len(fresh)
    # children still listed and unchanged stay marked as read; the rest are read again below
    read.children = {c.loc: c.lastmod_text for c in sitemap.entries
                     if c.lastmod_text and seen.get(c.loc) == c.lastmod_text}
    for child in [c for c in fresh if c.loc not in read.children][:max_children]:
        try:
            result = fetcher.get(child.loc, max_bytes=max_bytes, obey_robots=True)
            nested = parse_sitemap(inflate(result.content, child.loc, max_bytes), child.loc)
        except RegwireError as exc:
            read.errors.append(str(exc) if child.loc in str(exc) else f"{child.loc}: {exc}")
            continue
        if nested.is_index:
            read.errors.append(f"{child.loc}: a sitemap index inside a sitemap index is not followed")
            continue
        recent_items(nested, child.loc, cutoff, read)
        if child.lastmod_text:
            read.children[child.loc] = child.lastmod_text
    return read
