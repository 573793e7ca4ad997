"""The pipeline for one source: poll its due feeds → fetch new pages → extract → tag → write, with per-feed state.

Stages stay separate functions over typed records; :class:`Pipeline` wires them with the fetcher, the store and the
tagger it is given (all injectable). A source's feeds run one after another; sources run in parallel threads, and
per-host politeness holds across them because they share one :class:`Fetcher`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .errors import FeedParseError, FetchError, RegwireError, StoreError
from .extract import extract_article, reconcile_dates
from .fetch import Fetcher
from .models import Article, FeedItem, FeedState, FeedStatus, WriteOutcome
from .settings import Settings
from .sources import Source
from .sources.feeds import parse_feed
from .sources.schedule import after_failure, after_success, is_due
from .store.base import ArticleWrite, Store

if TYPE_CHECKING:
    from .tagging import Tagger

log = logging.getLogger("regwire.pipeline")

#: a page whose extracted text is shorter than this share of the feed's own full text lost content: use the feed's
FEED_CONTENT_RATIO = 0.5
#: feed content shorter than this (characters) is a teaser, not a full text to fall back on
MIN_FEED_CONTENT = 200


@dataclass
class SourceReport:
    source: str
    polled: int = 0
    not_modified: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0  #: feeds that failed
    item_errors: int = 0  #: articles that could not be fetched or extracted (and had no feed text to fall back on)
    skipped: int = 0  #: feeds not due, suspended or disabled
    errors: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass
class FeedOutcome:
    items: list[FeedItem]
    state: FeedState


class Pipeline:
    def __init__(self, settings: Settings, store: Store, *, fetcher: Fetcher | None = None,
                 tagger: Tagger | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 rng: random.Random | None = None):
        self.settings, self.store, self.tagger = settings, store, tagger
        self.fetcher = fetcher or Fetcher(settings)
        self.clock, self.rng = clock, rng or random.Random()
        self._write_lock = threading.Lock()
        #: canonical URLs another worker is fetching right now (released once written), so parallel sources never
        #: fetch the same page twice
        self._claimed: set[str] = set()

    def close(self) -> None:
        self.fetcher.close()

    # -- orchestration --------------------------------------------------------------------------------------------

    def run(self, sources: Sequence[Source], *, force: bool = False) -> list[SourceReport]:
        """Run every enabled source once (due feeds only, unless ``force``)."""
        enabled = [s for s in sources if s.enabled]
        with ThreadPoolExecutor(max_workers=max(1, min(self.settings.schedule.workers, len(enabled) or 1))) as pool:
            return list(pool.map(lambda s: self.run_source(s, force=force), enabled))

    def run_source(self, source: Source, *, force: bool = False) -> SourceReport:
        """Poll one source's due feeds and store what is new. A failing feed never stops the others."""
        report = SourceReport(source.name)
        for feed_url in source.feeds:
            try:
                state = self.store.get_feed_state(feed_url) or FeedState(feed_url=feed_url, source=source.name)
            except StoreError as exc:  # the store is down: this feed waits for the next run, the others still try
                report.failed += 1
                report.errors.append(f"{feed_url}: cannot read feed state: {exc}")
                continue
            if not (force and state.status is FeedStatus.ACTIVE) and not is_due(state, self.clock()):
                report.skipped += 1
                continue
            try:
                self._run_feed(source, state, report)
            except RegwireError as exc:  # recorded on the feed; the next feed still runs
                self._record_failure(state, exc, report)
            except Exception as exc:  # a bug must not stop the other feeds either; it is logged with its traceback
                log.exception("feed %s: unexpected error", feed_url)
                self._record_failure(state, RegwireError(f"internal error: {type(exc).__name__}: {exc}"), report)
        return report

    def _run_feed(self, source: Source, state: FeedState, report: SourceReport) -> None:
        report.polled += 1
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        now = self.clock()
        result = self.fetcher.get(state.feed_url, headers=headers, max_bytes=self.settings.http.max_feed_bytes)
        interval = source.poll_interval or self.settings.schedule.default_poll_interval
        if result.not_modified:
            report.not_modified += 1
            self.store.save_feed_state(after_success(state, now, interval, status=304))
            return
        items = parse_feed(result.content, result.final_url, result.headers.get("content-type"))
        item_failures = self.process_items(source, items, report)
        # Cache validators are kept only when every item made it into the store: otherwise the next poll would get
        # a 304 and the failed items would never be retried.
        keep = item_failures == 0
        self.store.save_feed_state(after_success(
            state, now, interval, status=result.status, items=len(items),
            etag=result.headers.get("etag") if keep else None,
            last_modified=result.headers.get("last-modified") if keep else None,
        ))

    def _record_failure(self, state: FeedState, exc: RegwireError, report: SourceReport) -> None:
        report.failed += 1
        report.errors.append(f"{state.feed_url}: {exc.reason if isinstance(exc, FetchError | FeedParseError) else exc}")
        log.warning("feed %s failed: %s", state.feed_url, exc)
        try:
            self.store.save_feed_state(after_failure(state, self.clock(), exc, self.settings, self.rng))
        except StoreError as store_exc:  # nothing is lost: no validator was saved, so the next run polls again
            report.errors.append(f"{state.feed_url}: feed state not saved: {store_exc}")
            log.error("feed %s: state not saved: %s", state.feed_url, store_exc)

    # -- items ----------------------------------------------------------------------------------------------------

    def process_items(self, source: Source, items: Sequence[FeedItem], report: SourceReport) -> int:
        """Fetch, extract, tag and write the items that are new (or that the feed says changed).

        Returns how many items failed without a fallback.
        """
        unique: dict[str, FeedItem] = {}
        for item in items:
            unique.setdefault(item.canonical_url, item)
        newest_first = sorted(unique.values(), key=lambda i: i.published or datetime.min.replace(tzinfo=UTC),
                              reverse=True)[: source.max_articles_per_poll]
        with self._write_lock:
            newest_first = [i for i in newest_first if i.canonical_url not in self._claimed]
            self._claimed.update(i.canonical_url for i in newest_first)
        try:
            writes, failures = self._fetch_new(source, newest_first, report)
            with self._write_lock:
                results = self.store.write_articles(writes) if writes else []
        finally:
            with self._write_lock:
                self._claimed.difference_update(i.canonical_url for i in newest_first)
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

    def _fetch_new(self, source: Source, items: list[FeedItem],
                   report: SourceReport) -> tuple[list[ArticleWrite], int]:
        known = self.store.known_articles([i.canonical_url for i in items])
        writes: list[ArticleWrite] = []
        failures = 0
        for item in items:
            seen = known.get(item.canonical_url)
            if seen is not None and (item.updated is None or (seen.feed_updated and item.updated <= seen.feed_updated)):
                continue
            try:
                article = self.fetch_article(item, source)
            except RegwireError as exc:
                failures += 1
                report.item_errors += 1
                report.errors.append(f"{item.url}: {exc}")
                log.info("article %s skipped: %s", item.url, exc)
                continue
            writes.append(ArticleWrite(
                article=article, source=source.name, fetched_at=self.clock(), feed_url=item.feed_url,
                tags=self.tagger.tag(article.title, article.text) if self.tagger else None,
                feed_updated=item.updated, aliases=[item.canonical_url],
            ))
        return writes, failures

    def fetch_article(self, item: FeedItem, source: Source) -> Article:
        """The article behind a feed item: its page extracted, or the feed's own full text when that is better."""
        feed_text = item.content if len(item.content) >= MIN_FEED_CONTENT else ""
        try:
            page = self.fetcher.get(item.url, obey_robots=True)
            article = extract_article(page.content, page.final_url, content_type=page.headers.get("content-type", ""))
        except RegwireError:  # robots.txt, fetch or extraction: the feed's full text is the fallback
            if not feed_text:
                raise
            article = None
        if article is None or len(article.text) < FEED_CONTENT_RATIO * len(feed_text):
            article = Article(
                url=item.url,
                canonical_url=article.canonical_url if article else item.canonical_url,
                title=(article.title if article else "") or item.title,
                text=feed_text,
                summary=item.summary,
                authors=(article.authors if article else []) or item.authors,
                language=(article.language if article else None),
                categories=item.categories,
                image=(article.image if article else None) or item.image,
                sitename=article.sitename if article else None,
                published=article.published if article else None,
                text_origin="feed",
            )
        return article.model_copy(update={
            "title": article.title or item.title,
            "summary": article.summary or item.summary,
            "authors": article.authors or item.authors,
            "published": reconcile_dates(article.published, item.published),
            "language": article.language or item.language or source.language,
            "categories": article.categories or item.categories,
            "image": article.image or item.image,
        })
