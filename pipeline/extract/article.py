"""Article extraction with trafilatura: text and metadata of one page, in one pass over the HTML."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from lxml import etree
from trafilatura import bare_extraction
from trafilatura.settings import Document
from trafilatura.xml import xmltotxt

from ..caps import RELATED_LINKS
from ..errors import BAD_INPUT_ERRORS, ExtractionError
from ..fetch.fetcher import decode_html
from ..models import Article
from ..urls import canonicalize_url, same_site
from .furniture import RelatedLink, strip_link_furniture

_HTML_LANG = re.compile(r"<html[^>]*\blang\s*=\s*[\"']?([A-Za-z]{2})", re.IGNORECASE)


def extract_article(html: str | bytes, url: str, *, content_type: str = "") -> Article:
    """Extract an article from a page. ``url`` is where the page was fetched from.

    The canonical URL is the page's ``<link rel=canonical>`` (or og:url) when it is on the same site, otherwise the
    fetched URL; either way normalised by :func:`canonicalize_url`. Raises :class:`ExtractionError` when trafilatura
    finds no article text.
    """
    if isinstance(html, bytes):
        html = decode_html(html, content_type)
    try:
        doc = bare_extraction(html, url=url, with_metadata=True, include_comments=False, include_links=True)
    except BAD_INPUT_ERRORS as exc:  # unparseable markup, nesting deeper than the recursion limit ...
        raise ExtractionError(url, f"trafilatura failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(doc, Document) or not (doc.text or "").strip():
        raise ExtractionError(url, "no article text found")
    text, related = body_text(doc)
    if not text:
        raise ExtractionError(url, "no article text found (only links to other stories)")
    canonical = url
    if doc.url and doc.url != url and same_site(doc.url, url):
        canonical = doc.url
    language = doc.language
    if not language and (match := _HTML_LANG.search(html[:4096])):
        language = match.group(1).lower()
    return Article(
        url=url,
        canonical_url=canonicalize_url(canonical),
        title=(doc.title or "").strip(),
        text=text,
        summary=(doc.description or "").strip(),
        published=page_date(doc.date),
        authors=[a.strip() for a in (doc.author or "").split(";") if a.strip()],
        language=language,
        categories=list(doc.categories or []),
        site_tags=list(doc.tags or []),
        image=doc.image or None,
        sitename=doc.sitename or None,
        text_origin="page",
        related_links=related,
    )


def body_text(doc: Document) -> tuple[str, list[RelatedLink]]:
    """The article text without link furniture, and the links to other stories that were taken out of it.

    trafilatura ran with ``include_links`` so that its XML body marks links (``<ref>``); the furniture filter reads
    them, then the links are unwrapped so the text is what trafilatura gives without links.
    """
    body = doc.body
    if body is None:
        return (doc.text or "").strip(), []
    count, length = RELATED_LINKS  # a hostile page may hold thousands of links
    related = [RelatedLink(title=link.title[:length], url=link.url[:length] if link.url else None)
               for link in strip_link_furniture(body)[:count]]
    etree.strip_tags(body, "ref")
    return xmltotxt(body, include_formatting=False).strip(), related


def page_date(value: str | None) -> datetime | None:
    """trafilatura's (htmldate's) date string as an aware datetime at midnight UTC."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value[:10]), time(), UTC)
    except ValueError:
        return None


def reconcile_dates(page: datetime | None, feed: datetime | None) -> datetime | None:
    """The page's date wins, else the feed's; when both name the same day the feed's carries the time of day."""
    if page is None:
        return feed
    if feed is not None and feed.astimezone(UTC).date() == page.date():
        return feed
    return page
