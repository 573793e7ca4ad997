"""Feed parsing: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.x from its JSON, into :class:`FeedItem`.

The bytes come from the fetcher (feedparser never fetches anything itself). Documents that declare XML entities are
refused before parsing: entity expansion ("billion laughs") is a memory attack and no real feed needs it.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html

from ..errors import BAD_INPUT_ERRORS, FeedItemError, FeedParseError, InvalidURLError
from ..extract.furniture import HTML, strip_link_furniture
from ..fetch.guard import parse_url
from ..models import FeedItem
from ..urls import canonicalize_url

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_JSON_FEED_VERSION = "https://jsonfeed.org/version/1"
#: what feedparser flags on documents that are fine (a wrong charset label, a missing Content-Type)
_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
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


@dataclass
class ParsedFeed:
    """What a feed document gave: its usable items, and the items skipped with the reason (item and field)."""

    items: list[FeedItem] = field(default_factory=list)
    skipped: list[FeedItemError] = field(default_factory=list)

    def add(self, url: str, label: str, build: Callable[[], FeedItem | None]) -> None:
        """Keep the item ``build`` makes, or skip it with the reason: one bad item costs only itself."""
        try:
            item = build()
        except FeedItemError as exc:
            self.skipped.append(exc)
            return
        except BAD_INPUT_ERRORS as exc:  # a value no field check foresaw: this item only
            self.skipped.append(FeedItemError(url, label, None, f"{type(exc).__name__}: {exc}"))
            return
        if item is not None:
            self.items.append(item)


def parse_feed(content: bytes, url: str, content_type: str | None = None) -> list[FeedItem]:
    """Items of a feed document (bad items left out: see :func:`parse_feed_items` for why)."""
    return parse_feed_items(content, url, content_type).items


def parse_feed_items(content: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Items of a feed document, and the items skipped with their reason. One bad item never costs the others.

    Raises :class:`FeedParseError` (naming the feed) when the document itself cannot be read, including malformed
    RSS/Atom from which no item at all could be recovered.
    """
    head = content[:2048].lstrip()
    if head.startswith(b"{") or (content_type and "json" in content_type.lower()):
        return _parse_json_feed(content, url)
    if _ENTITY_DECL.search(content[:65536]):
        raise FeedParseError(url, "document declares XML entities (<!ENTITY>); refused to prevent entity expansion")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(content, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    except BAD_INPUT_ERRORS as exc:
        raise FeedParseError(url, f"cannot be parsed: {type(exc).__name__}: {exc}") from exc
    if not parsed.entries and not parsed.version:
        raise FeedParseError(url, "not a feed: no RSS, Atom or JSON Feed structure found")
    language = _language(parsed.feed.get("language"))
    result = ParsedFeed()
    for index, entry in enumerate(parsed.entries):
        label = _item_label(index, entry.get("id") or entry.get("link"))
        result.add(url, label, partial(_item_from_entry, entry, url, language, label))
    problem = parsed.get("bozo_exception")
    if not result.items and not result.skipped and parsed.bozo and not isinstance(problem, _HARMLESS):
        raise FeedParseError(url, f"malformed feed, no item could be read: {problem}")
    return result


def _item_label(index: int, ident: Any) -> str:
    """How a report names an item: its position, and its id or link when it has a usable one."""
    label = f"#{index + 1}"
    if isinstance(ident, str | int) and str(ident).strip():
        label += f" ({str(ident).strip()[:200]})"
    return label


def _checked_link(link: str, feed_url: str, item: str, field_name: str) -> tuple[str, str]:
    """The link made absolute and its canonical form; raises :class:`FeedItemError` when it cannot be fetched."""
    try:
        absolute = urljoin(feed_url, link)
        canonical = canonicalize_url(link, base=feed_url)
        for candidate in (absolute, canonical):
            parsed = parse_url(candidate)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise FeedItemError(feed_url, item, field_name, f"not an http(s) URL: {link[:200]!r}")
    except InvalidURLError as exc:
        raise FeedItemError(feed_url, item, field_name, exc.reason) from exc
    except BAD_INPUT_ERRORS as exc:
        raise FeedItemError(feed_url, item, field_name, f"invalid URL: {type(exc).__name__}: {exc}") from exc
    return absolute, canonical


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


def _item_from_entry(entry: Any, feed_url: str, language: str | None, label: str) -> FeedItem | None:
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
    url, canonical = _checked_link(link, feed_url, label, "link")
    updated = _struct_to_datetime(entry.get("updated_parsed"))
    return FeedItem(
        feed_url=feed_url,
        url=url,
        canonical_url=canonical,
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


#: JSON nested deeper than this inside one item is refused (real items are a few levels deep)
MAX_JSON_DEPTH = 64
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _iso_datetime(value: Any, feed_url: str, item: str, field_name: str) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise FeedItemError(feed_url, item, field_name, f"must be an RFC 3339 date string, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FeedItemError(feed_url, item, field_name, f"not an RFC 3339 date: {value[:100]!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mask_deep_items(text: str, limit: int) -> tuple[str, set[int]]:
    """``text`` with every element of the top-level ``items`` array nested deeper than ``limit`` replaced by
    ``null`` (so the rest of the document parses without recursing that deep), and the indices replaced.

    A scan of the JSON tokens, no recursion: strings are skipped whole, brackets counted.
    """
    pieces: list[str] = []
    masked: set[int] = set()
    depth, last, key, container, index = 0, 0, "", "", 0
    start, deepest = -1, 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth == 2:
                container, index = key, 0
            elif depth == 3 and start < 0:
                start, deepest = match.start(), 3
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            if depth == 3 and start >= 0:
                if deepest > limit and container == "items":
                    pieces += [text[last:start], "null"]
                    last = match.end()
                    masked.add(index)
                start = -1
            depth -= 1
        elif token == ",":
            index += depth == 2
        elif depth == 1:
            key = token[1:-1]
    pieces.append(text[last:])
    return "".join(pieces), masked


def _load_json(content: bytes, url: str) -> tuple[Any, set[int]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedParseError(url, f"invalid JSON: not UTF-8: {exc}") from exc
    try:
        return json.loads(text), set()
    except RecursionError:
        text, masked = _mask_deep_items(text, MAX_JSON_DEPTH)
    except json.JSONDecodeError as exc:
        raise FeedParseError(url, f"invalid JSON: {exc}") from exc
    try:
        return json.loads(text), masked
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FeedParseError(url, f"invalid JSON: {type(exc).__name__}: {exc}") from exc


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    data, too_deep = _load_json(content, url)
    if not isinstance(data, dict) or not str(data.get("version", ""))[:100].startswith(_JSON_FEED_VERSION):
        raise FeedParseError(url, "JSON document is not a JSON Feed (missing 'version: https://jsonfeed.org/version/1.x')")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedParseError(url, "JSON Feed field 'items' must be a list")
    language = _language(data.get("language"))
    feed_authors = _json_authors(data)
    result = ParsedFeed()
    for index, raw in enumerate(items):
        label = _item_label(index, raw.get("id") if isinstance(raw, dict) else None)
        if index in too_deep:
            result.skipped.append(FeedItemError(url, label, None, f"nested deeper than {MAX_JSON_DEPTH} levels"))
        elif not isinstance(raw, dict):
            result.skipped.append(FeedItemError(url, label, None, f"must be an object, not {type(raw).__name__}"))
        else:
            result.add(url, label, partial(_json_item, raw, url, label, language, feed_authors))
    return result


def _json_str(raw: dict[str, Any], name: str, url: str, item: str) -> str | None:
    """A JSON Feed string field, or None when absent; any other type skips the item naming the field."""
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FeedItemError(url, item, name, f"must be a string, not {type(value).__name__}")
    return value


def _json_item(raw: dict[str, Any], url: str, label: str, language: str | None,
               feed_authors: list[str]) -> FeedItem | None:
    ident = raw.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
        raise FeedItemError(url, label, "id", f"must be a string, not {type(ident).__name__}")
    link_field = "url" if raw.get("url") is not None else "external_url"
    link = _json_str(raw, link_field, url, label) or ""
    if not link and str(ident or "").startswith(("http://", "https://")):
        link, link_field = str(ident), "id"
    if not link:
        return None
    absolute, canonical = _checked_link(link, url, label, link_field)
    html = _json_str(raw, "content_html", url, label)
    text = html_to_text(html) if html else (_json_str(raw, "content_text", url, label) or "")
    tags = raw.get("tags")
    return FeedItem(
        feed_url=url,
        url=absolute,
        canonical_url=canonical,
        guid=str(ident) if ident is not None else None,
        title=html_to_text(_json_str(raw, "title", url, label) or ""),
        summary=_json_str(raw, "summary", url, label) or "",
        content=text.strip(),
        published=_iso_datetime(raw.get("date_published"), url, label, "date_published"),
        updated=_iso_datetime(raw.get("date_modified"), url, label, "date_modified"),
        authors=_json_authors(raw) or feed_authors,
        categories=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        language=_language(raw.get("language")) or language,
        image=_json_str(raw, "image", url, label) or _json_str(raw, "banner_image", url, label),
    )


def _json_authors(obj: dict[str, Any]) -> list[str]:
    authors = obj.get("authors")
    if not isinstance(authors, list):  # JSON Feed 1.0 had a single "author"
        authors = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    return [a["name"].strip() for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
