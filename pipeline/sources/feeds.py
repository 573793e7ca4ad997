"""Feed parsing: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.x from its JSON, into :class:`FeedItem`.

The bytes come from the fetcher (feedparser never fetches anything itself). Documents that declare XML entities are
refused before parsing: entity expansion ("billion laughs") is a memory attack and no real feed needs it.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html

from ..errors import FeedParseError
from ..extract.furniture import HTML, strip_link_furniture
from ..models import FeedItem
from ..urls import canonicalize_url

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_JSON_FEED_VERSION = "https://jsonfeed.org/version/1"
_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article")


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment (feed content), one block per line."""
    if not html or "<" not in html:
        return (html or "").strip()
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return re.sub(r"<[^>]+>", " ", html).strip()
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    strip_link_furniture(root, HTML)  # "Related: <headline>" lines and link lists are other stories
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n".join(line for line in lines if line)


def parse_feed(content: bytes, url: str, content_type: str | None = None) -> list[FeedItem]:
    """Items of a feed document. Raises :class:`FeedParseError` (naming the feed) when nothing can be recovered."""
    head = content[:2048].lstrip()
    if head.startswith(b"{") or (content_type and "json" in content_type.lower()):
        return _parse_json_feed(content, url)
    if _ENTITY_DECL.search(content[:65536]):
        raise FeedParseError(url, "document declares XML entities (<!ENTITY>); refused to prevent entity expansion")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(content, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    if not parsed.entries:
        if parsed.bozo and not parsed.feed.get("title"):
            raise FeedParseError(url, f"not a feed: {parsed.get('bozo_exception')}")
        if not parsed.version and not parsed.feed:
            raise FeedParseError(url, "not a feed: no RSS, Atom or JSON Feed structure found")
    language = _language(parsed.feed.get("language"))
    items = []
    for entry in parsed.entries:
        item = _item_from_entry(entry, url, language)
        if item is not None:
            items.append(item)
    return items


def _language(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().split("-")[0].split("_")[0].lower()[:2] or None


def _struct_to_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _item_from_entry(entry: Any, feed_url: str, language: str | None) -> FeedItem | None:
    link = entry.get("link") or ""
    guid = entry.get("id") or None
    if not link and guid and guid.startswith(("http://", "https://")):
        link = guid
    if not link:
        return None
    content_html = ""
    if entry.get("content"):
        content_html = max((c.get("value", "") for c in entry.content), key=len)
    authors = [a.get("name", "").strip() for a in entry.get("authors", []) if a.get("name")]
    if not authors and entry.get("author"):
        authors = [entry.author.strip()]
    image = None
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        if media.get("url"):
            image = media["url"]
            break
    if image is None:
        for enclosure in entry.get("enclosures", []):
            if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
                image = enclosure["href"]
                break
    absolute = canonicalize_url(link, base=feed_url)
    updated = _struct_to_datetime(entry.get("updated_parsed"))
    return FeedItem(
        feed_url=feed_url,
        url=urljoin(feed_url, link),
        canonical_url=absolute,
        guid=guid,
        title=html_to_text(entry.get("title", "")),
        summary=html_to_text(entry.get("summary", "")),
        content=html_to_text(content_html),
        published=_struct_to_datetime(entry.get("published_parsed")) or updated,
        updated=updated,
        authors=authors,
        categories=[t.get("term", "").strip() for t in entry.get("tags", []) if t.get("term")],
        language=_language(entry.get("language")) or language,
        image=image,
    )


def _iso_datetime(value: Any, url: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise FeedParseError(url, f"JSON Feed item field {field!r}: not an RFC 3339 date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_json_feed(content: bytes, url: str) -> list[FeedItem]:
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedParseError(url, f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(_JSON_FEED_VERSION):
        raise FeedParseError(url, "JSON document is not a JSON Feed (missing 'version: https://jsonfeed.org/version/1.x')")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedParseError(url, "JSON Feed field 'items' must be a list")
    language = _language(data.get("language"))
    feed_authors = _json_authors(data)
    result = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise FeedParseError(url, f"JSON Feed items[{index}] is not an object")
        link = raw.get("url") or raw.get("external_url") or ""
        if not link and str(raw.get("id", "")).startswith(("http://", "https://")):
            link = str(raw["id"])
        if not link:
            continue
        canonical = canonicalize_url(link, base=url)
        text = html_to_text(raw["content_html"]) if raw.get("content_html") else str(raw.get("content_text") or "")
        tags = raw["tags"] if isinstance(raw.get("tags"), list) else []
        result.append(FeedItem(
            feed_url=url,
            url=urljoin(url, link),
            canonical_url=canonical,
            guid=str(raw["id"]) if raw.get("id") is not None else None,
            title=html_to_text(str(raw.get("title") or "")),
            summary=str(raw.get("summary") or ""),
            content=text.strip(),
            published=_iso_datetime(raw.get("date_published"), url, f"items[{index}].date_published"),
            updated=_iso_datetime(raw.get("date_modified"), url, f"items[{index}].date_modified"),
            authors=_json_authors(raw) or feed_authors,
            categories=[str(t) for t in tags],
            language=_language(raw.get("language")) or language,
            image=raw.get("image") or raw.get("banner_image"),
        ))
    return result


def _json_authors(obj: dict[str, Any]) -> list[str]:
    authors = obj.get("authors")
    if not isinstance(authors, list):  # JSON Feed 1.0 had a single "author"
        authors = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    return [str(a["name"]).strip() for a in authors if isinstance(a, dict) and a.get("name")]
