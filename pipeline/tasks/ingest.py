"""A feed's new items through the stages: fetch the page → extract → tag → one store write per feed poll.

Items the store already holds are skipped unless the feed marks them updated; a page that cannot be fetched or
extracted falls back to the feed's own full text when it has one. One bad item never costs the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from ..errors import ExtractionWorkerError, RegwireError
from ..logs import log_context
from ..models import Article, FeedItem, WriteOutcome
from ..sources import Source
from ..store.base import ArticleWrite
from ..tagging.models import Tags
from .context import TaskContext
from .report import SourceReport
from .workers import WorkerState

log = logging.getLogger("regwire.ingest")

#: a page whose extracted text is shorter than this share of the feed's own full text lost content: use the feed's
FEED_CONTENT_RATIO = 0.5
#: feed content shorter than this (characters) is a teaser, not a full text to fall back on
MIN_FEED_CONTENT = 200
_EPOCH = datetime.min.replace(tzinfo=UTC)


def ingest_items(ctx: TaskContext, source: Source, items: Sequence[FeedItem], report: SourceReport) -> int:
    """Fetch, extract, tag and write the items that are new (or that the feed says changed).

    Returns how many items failed, without a fallback, for a transient reason (worth retrying on a later poll).
    """
    unique: dict[str, FeedItem] = {}
    for item in items:
        unique.setdefault(item.canonical_url, item)
    newest_first = sorted(unique.values(), key=lambda i: i.published or _EPOCH,
                          reverse=True)[: source.max_articles_per_poll]
    with ctx.write_lock:  # another thread (another source) may be fetching the same page right now
        mine = [i for i in newest_first if i.canonical_url not in ctx.claimed]
        ctx.claimed.update(i.canonical_url for i in mine)
    try:
        writes, failures = _articles_to_write(ctx, source, mine, report)
        with ctx.write_lock:
            results = ctx.store.write_articles(writes) if writes else []
    finally:
        with ctx.write_lock:
            ctx.claimed.difference_update(i.canonical_url for i in mine)
    for res in results:
        if res.outcome is WriteOutcome.NEW:
            report.new += 1
        elif res.outcome is WriteOutcome.UPDATED:
            report.updated += 1
        else:
            report.unchanged += 1
        if res.outcome is not WriteOutcome.UNCHANGED:
            report.changed_ids.append(res.id)
    return failures


def _articles_to_write(ctx: TaskContext, source: Source, items: list[FeedItem],
                       report: SourceReport) -> tuple[list[ArticleWrite], int]:
    known = ctx.store.known_articles([i.canonical_url for i in items])
    writes: list[ArticleWrite] = []
    failures = 0
    for item in items:
        seen = known.get(item.canonical_url)
        if seen is not None and (item.updated is None or (seen.feed_updated and item.updated <= seen.feed_updated)):
            continue
        with log_context(article=item.url, stage="fetch"):
            try:
                article, tags = fetch_article(ctx, item, source)
            except RegwireError as exc:  # transient: retried on later polls; permanent: given up, reason recorded
                failures += exc.transient
                if exc.transient:
                    report.retry[item.canonical_url] = str(exc)
                report.item_errors += 1
                report.errors.append(f"{item.url}: {'will retry' if exc.transient else 'given up'}: {exc}")
                log.info("article %s skipped: %s", item.url, exc, extra=exc.at(article=item.url).where())
                continue
        writes.append(ArticleWrite(article=article, source=source.name, fetched_at=ctx.clock(),
                                   feed_url=item.feed_url, tags=tags, feed_updated=item.updated,
                                   aliases=[item.canonical_url]))
    return writes, failures


def fetch_article(ctx: TaskContext, item: FeedItem, source: Source) -> tuple[Article, Tags | None]:
    """The article behind a feed item (its page extracted, or the feed's own full text when that is better) and its
    tags. The page is fetched here; extraction and tagging run in a worker process (:mod:`.workers`)."""
    has_feed_text = len(item.content) >= MIN_FEED_CONTENT
    content, final_url, content_type = None, item.url, ""
    try:
        page = ctx.fetcher.get(item.url, obey_robots=True)
        content, final_url, content_type = page.content, page.final_url, page.headers.get("content-type", "")
    except RegwireError:  # robots.txt or fetch: the feed's full text is the fallback
        if not has_feed_text:
            raise
    try:
        return ctx.extraction.call(article_and_tags, item, content, final_url, content_type, source.language,
                                   what=item.url)
    except ExtractionWorkerError:  # the page crashed its worker: the feed's full text still makes the article
        if not has_feed_text or content is None:
            raise
        return ctx.extraction.call(article_and_tags, item, None, final_url, "", source.language, what=item.url)


def article_and_tags(state: WorkerState, item: FeedItem, content: bytes | None, final_url: str, content_type: str,
                     source_language: str | None) -> tuple[Article, Tags | None]:
    """Extract the fetched page (None: it could not be fetched), fall back to the feed's full text, tag the result.
    Runs in an extraction worker."""
    from ..extract import extract_article, reconcile_dates  # trafilatura loads in the workers, not the poller

    feed_text = item.content if len(item.content) >= MIN_FEED_CONTENT else ""
    article: Article | None = None
    if content is not None:
        try:
            article = extract_article(content, final_url, content_type=content_type)
        except RegwireError:  # the feed's full text is the fallback
            if not feed_text:
                raise
    if article is None or len(article.text) < FEED_CONTENT_RATIO * len(feed_text):
        article = _from_feed(item, feed_text, article)
    article = article.model_copy(update={
        "title": article.title or item.title,
        "summary": article.summary or item.summary,
        "authors": article.authors or item.authors,
        "published": reconcile_dates(article.published, item.published),
        "language": article.language or item.language or source_language,
        "categories": article.categories or item.categories,
        "image": article.image or item.image,
        "truncated": article.truncated or item.truncated,
    })
    return article, state.tagger.tag(article.title, article.text) if state.tagger else None


def _from_feed(item: FeedItem, feed_text: str, page: Article | None) -> Article:
    """The feed's full text, with what the page did give (canonical URL, title, authors ...)."""
    return Article(
        url=item.url,
        canonical_url=page.canonical_url if page else item.canonical_url,
        title=(page.title if page else "") or item.title,
        text=feed_text,
        summary=item.summary,
        authors=(page.authors if page else []) or item.authors,
        language=page.language if page else None,
        categories=item.categories,
        image=(page.image if page else None) or item.image,
        sitename=page.sitename if page else None,
        published=page.published if page else None,
        text_origin="feed",
    )
