"""``regwire sources discover``: a site's feeds (``<link rel="alternate">`` on its page) and sitemaps (``Sitemap:``
lines of its robots.txt), each fetched once through the guarded fetcher to check it, as a ready sources entry.

News sitemaps are listed; other sitemaps only when the site has no working feed (a feed is cheaper to poll than a
full sitemap), else they are printed commented out. Nothing is stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import lxml.html

from ..errors import FeedParseError, RegwireError
from .feeds import parse_feed
from .sitemaps import inflate, parse_sitemap

if TYPE_CHECKING:
    from ..fetch import Fetcher, FetchResult

FEED_TYPES = {"application/rss+xml": "RSS", "application/atom+xml": "Atom", "application/feed+json": "JSON Feed",
              "application/rdf+xml": "RSS 1.0"}
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Found:
    url: str
    label: str  #: what it is ("RSS", "news sitemap", ...)
    title: str = ""
    entries: int = 0
    error: str | None = None
    use: bool = True  #: listed in the entry (else printed commented out)


@dataclass
class Discovery:
    site: str
    name: str
    language: str | None = None
    feeds: list[Found] = field(default_factory=list)
    sitemaps: list[Found] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"site": self.site, "name": self.name, "language": self.language,
                "feeds": [vars(f) for f in self.feeds], "sitemaps": [vars(s) for s in self.sitemaps]}


def source_name(url: str) -> str:
    host = (urlsplit(url).hostname or "site").removeprefix("www.")
    return _NAME_UNSAFE.sub("-", host).strip("-.")[:64] or "site"


def feed_links(html: bytes, base_url: str) -> list[tuple[str, str, str]]:
    """(url, label, title) of the feeds a page advertises with ``<link rel="alternate" type=…>``."""
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    base = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
    base = urljoin(base_url, base) if base else base_url
    found: dict[str, tuple[str, str, str]] = {}
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rels or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if url.lower().startswith(("http://", "https://")):
            found.setdefault(url, (url, FEED_TYPES[kind], " ".join((link.get("title") or "").split())))
    return list(found.values())


def page_language(html: bytes) -> str | None:
    match = re.search(rb"<html[^>]*\slang\s*=\s*[\"']?([A-Za-z]{2})\b", html[:4096], re.IGNORECASE)
    return match.group(1).decode().lower() if match else None


def robots_sitemaps(text: str, base_url: str) -> list[str]:
    """The ``Sitemap:`` lines of a robots.txt (they apply whatever the user-agent group)."""
    urls: list[str] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            url = urljoin(base_url, value.split("#")[0].strip())
            if url.lower().startswith(("http://", "https://")) and url not in urls:
                urls.append(url)
    return urls


def _check_feed(fetcher: Fetcher, found: Found, max_bytes: int) -> None:
    try:
        result = fetcher.get(found.url, max_bytes=max_bytes)
        found.entries = len(parse_feed(result.content, result.final_url, result.headers.get("content-type")))
    except RegwireError as exc:
        found.error, found.use = str(exc), False


def _check_sitemap(fetcher: Fetcher, found: Found, max_bytes: int) -> None:
    try:
        result = fetcher.get(found.url, max_bytes=max_bytes, obey_robots=True)
        sitemap = parse_sitemap(inflate(result.content, found.url, max_bytes), found.url)
    except RegwireError as exc:
        found.error, found.use = str(exc), False
        return
    found.entries = len(sitemap.entries)
    if sitemap.is_index:
        found.label = "sitemap index"
    elif any(e.published or e.title for e in sitemap.entries):
        found.label = "news sitemap"


def discover(fetcher: Fetcher, url: str, *, max_bytes: int = 10 * 1024 * 1024) -> Discovery:
    """What ``url``'s site offers to poll. Raises a :class:`~pipeline.errors.FetchError` when the page itself
    cannot be fetched; a feed or sitemap that fails its check is reported with its error and not used."""
    page = fetcher.get(url, obey_robots=True)
    found = Discovery(site=url, name=source_name(page.final_url), language=page_language(page.content))
    if _is_feed(page):
        found.feeds.append(Found(page.final_url, "feed"))
    else:
        found.feeds = [Found(u, label, title) for u, label, title in feed_links(page.content, page.final_url)]
    parts = urlsplit(page.final_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        robots = fetcher.get(origin + "/robots.txt", max_bytes=512 * 1024)
        found.sitemaps = [Found(u, "sitemap") for u in robots_sitemaps(robots.text(), origin + "/")]
    except RegwireError:
        found.sitemaps = []  # no robots.txt: no sitemaps announced
    for feed in found.feeds:
        _check_feed(fetcher, feed, max_bytes)
    for sitemap in found.sitemaps:
        _check_sitemap(fetcher, sitemap, max_bytes)
    has_feeds = any(f.use for f in found.feeds)
    for sitemap in found.sitemaps:
        sitemap.use = sitemap.error is None and (sitemap.label == "news sitemap" or not has_feeds)
    return found


def _is_feed(page: FetchResult) -> bool:
    kind = page.headers.get("content-type", "").lower()
    if "html" in kind:
        return False
    try:
        parse_feed(page.content, page.final_url, kind or None)
    except FeedParseError:
        return False
    return True


def _comment(found: Found) -> str:
    what = found.label + (f" {found.title!r}" if found.title else "")
    text = f"{what}: {found.error}" if found.error else f"{what}, {found.entries} entries"
    return " ".join(text.split())


def as_yaml(found: Discovery) -> str:
    """A sources file with one entry for the site (``kind`` left for a person to set)."""
    lines = [f"# discovered from {found.site}", "sources:", f"  - name: {found.name}",
             "    # kind: outlet            # or regulator, standard-setter"]
    if found.language:
        lines.append(f"    language: {found.language}")
    for key, items in (("feeds", found.feeds), ("sitemaps", found.sitemaps)):
        if not items:
            continue
        lines.append(f"    {key}:" if any(i.use for i in items) else f"    # {key}:")
        for item in items:
            lines.append(f"      {'' if item.use else '# '}- {json.dumps(item.url)}    # {_comment(item)}")
    if not any(i.use for i in (*found.feeds, *found.sitemaps)):
        lines.insert(0, "# no working feed or sitemap found: this entry is not usable as it is")
    return "\n".join(lines) + "\n"
