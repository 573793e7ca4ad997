"""The poll task: one source's due feeds → new items → articles in the store, with each feed's state kept in the
store beside the articles. This is the one poll loop; ``regwire run`` runs it for every source (in threads),
``regwire_poll`` in Airflow runs it once per mapped task.

A failing feed never stops the others: its error is recorded on the feed (backoff decided by whether the error is
transient, see :mod:`pipeline.sources.schedule`) and in the report. Feeds that are not polled because they are
backing off, suspended or disabled are listed in ``report.backing_off``, so a run never looks healthy while they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import (
    ConfigError,
    FeedParseError,
    FetchError,
    RateLimitedError,
    RegwireError,
    SourcePollError,
    StoreError,
)
from ..logs import log_context
from ..models import FeedState, FeedStatus
from ..sources import Source, load_sources
from ..sources.schedule import after_failure, after_success, is_due
from .context import TaskContext
from .documents import is_sitemap, next_interval, read_document
from .health import unhealthy_reason
from .ingest import ingest_items
from .report import SourceReport

log = logging.getLogger("regwire.poll")

#: polls an article may fail for a transient reason (robots.txt unreachable, 503, timeout) before it is given up
MAX_ITEM_ATTEMPTS = 5
#: given-up articles remembered per feed (the most recent)
MAX_GIVEN_UP = 500


def load_source(ctx: TaskContext, name: str, sources_path: str | Path | None = None) -> Source:
    by_name = {s.name: s for s in load_sources(sources_path or ctx.settings.sources)}
    if name not in by_name:
        raise ConfigError(f"source {name!r} is not in the sources file (known: {', '.join(sorted(by_name))})")
    return by_name[name]


def enabled_sources(ctx: TaskContext, sources_path: str | Path | None = None) -> list[str]:
    """Names of the enabled sources in the sources file (``REGWIRE_SOURCES`` / the packaged catalog when None)."""
    return [s.name for s in load_sources(sources_path or ctx.settings.sources) if s.enabled]


def poll_sources(ctx: TaskContext, sources: Sequence[Source], *, force: bool = False) -> list[SourceReport]:
    """Poll every enabled source once, ``settings.schedule.workers`` sources at a time (politeness per host holds
    across them: they share one fetcher and its host slots)."""
    enabled = [s for s in sources if s.enabled]
    workers = max(1, min(ctx.settings.schedule.workers, len(enabled) or 1))
    ctx.fetcher, ctx.store  # noqa: B018 - open them once here, not in racing threads
    ctx.extraction.start()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regwire-source") as pool:
        return list(pool.map(lambda s: poll_source(ctx, s, force=force), enabled))


def poll_source(ctx: TaskContext, source: Source, *, force: bool = False) -> SourceReport:
    """Poll one source's due feeds (every active feed when ``force``) and store what is new or changed.

    Idempotent: articles are keyed by canonical URL and content hash, so a re-run writes nothing twice.
    """
    started = time.monotonic()
    report = SourceReport(source.name)
    with log_context(source=source.name, stage="poll"):
        for feed_url in source.urls:
            with log_context(feed=feed_url):
                _poll_feed_if_due(ctx, source, feed_url, report, force=force)
    report.seconds = time.monotonic() - started
    log.info("source %s: polled=%d not_modified=%d new=%d updated=%d failed=%d article_errors=%d skipped=%d"
             " backing_off=%d", source.name, report.polled, report.not_modified, report.new, report.updated,
             report.failed, report.item_errors, report.skipped, len(report.backing_off),
             extra={"source": source.name})
    return report


def raise_if_failed(report: SourceReport) -> SourceReport:
    """The report, or :class:`SourcePollError` carrying it when a feed failed (transient when any failure was)."""
    if report.failed:
        raise SourcePollError(report.as_json(), transient=report.transient_failure)
    return report


def _poll_feed_if_due(ctx: TaskContext, source: Source, feed_url: str, report: SourceReport, *, force: bool) -> None:
    try:
        state = ctx.store.get_feed_state(feed_url) or FeedState(feed_url=feed_url, source=source.name)
    except StoreError as exc:  # the store is down: this feed waits for the next run, the others still try
        _count_failure(report, feed_url, exc, f"cannot read feed state: {exc}")
        return
    if not (force and state.status is FeedStatus.ACTIVE) and not is_due(state, ctx.clock()):
        report.skipped += 1
        if reason := unhealthy_reason(state):
            report.backing_off.append(f"{feed_url}: {reason}")
        return
    try:
        _poll_feed(ctx, source, state, report)
    except RateLimitedError as exc:  # the host's Retry-After holds even for --force: not polled, not a failure
        report.polled -= 1
        report.skipped += 1
        report.backing_off.append(f"{feed_url}: {exc.reason}")
    except RegwireError as exc:  # recorded on the feed; the next feed still runs
        _record_failure(ctx, state, exc.at(source=source.name, feed=feed_url), report)
    except Exception as exc:  # a bug must not stop the other feeds either; it is logged with its traceback
        log.exception("feed %s: unexpected error", feed_url)
        error = RegwireError(f"internal error: {type(exc).__name__}: {exc}").at(source=source.name, feed=feed_url)
        _record_failure(ctx, state, error, report)


def _poll_feed(ctx: TaskContext, source: Source, state: FeedState, report: SourceReport) -> None:
    report.polled += 1
    state.document = "sitemap" if is_sitemap(source, state.feed_url) else "feed"
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    now = ctx.clock()
    started = time.monotonic()
    result = ctx.fetcher.get(state.feed_url, headers=headers, max_bytes=ctx.settings.http.max_feed_bytes,
                             obey_robots=state.document == "sitemap")
    fetch_seconds = time.monotonic() - started
    if result.not_modified:
        report.not_modified += 1
        interval = next_interval(ctx, source, state, result, now, None)
        ctx.store.save_feed_state(after_success(state, now, interval, status=304, fetch_seconds=fetch_seconds))
        return
    document = read_document(ctx, source, state, result, now)
    for skipped in document.skipped:  # one bad item costs only itself
        report.item_errors += 1
        report.errors.append(f"item skipped: {skipped}")
        log.warning("%s", skipped, extra=skipped.at(source=source.name).where())
    report.errors += document.errors
    report.item_errors += len(document.errors)
    items = [i for i in document.items if i.canonical_url not in state.given_up]
    new, updated, retry_before = report.new, report.updated, set(report.retry)
    ingest_items(ctx, source, items, report)
    retrying, given_up = _retry_bookkeeping(state, {u: r for u, r in report.retry.items() if u not in retry_before})
    for url, reason in given_up.items():
        report.errors.append(f"{url}: {reason}")
        log.warning("article %s: %s", url, reason, extra={"source": source.name, "feed": state.feed_url})
    # Cache validators are kept only when no item waits for a retry and no part of the document failed: otherwise the
    # next poll would get a 304 and those items would never be tried again. (Items given up are not retried on a 304.)
    keep = not retrying and not document.errors
    saved = after_success(
        state, now, next_interval(ctx, source, state, result, now, document), status=result.status,
        items=len(items), fetch_seconds=fetch_seconds, new=report.new - new, updated=report.updated - updated,
        etag=result.headers.get("etag") if keep else None,
        last_modified=result.headers.get("last-modified") if keep else None,
    )
    if keep and document.sitemap_children is not None:
        saved = saved.model_copy(update={"sitemap_children": document.sitemap_children})
    remembered = list({**state.given_up, **given_up}.items())[-MAX_GIVEN_UP:]
    ctx.store.save_feed_state(saved.model_copy(update={"retrying": retrying, "given_up": dict(remembered)}))


def _retry_bookkeeping(state: FeedState, failed: dict[str, str]) -> tuple[dict[str, int], dict[str, str]]:
    """Articles that failed transiently this poll: those to retry (with their count of failed polls) and those given
    up after MAX_ITEM_ATTEMPTS (with the reason). Articles stored since drop out of the count."""
    retrying: dict[str, int] = {}
    given_up: dict[str, str] = {}
    for url, reason in failed.items():
        attempts = state.retrying.get(url, 0) + 1
        if attempts >= MAX_ITEM_ATTEMPTS:
            given_up[url] = f"given up after {attempts} polls: {reason}"
        else:
            retrying[url] = attempts
    return retrying, given_up


def _count_failure(report: SourceReport, feed_url: str, error: RegwireError, message: str) -> None:
    report.failed += 1
    report.transient_failure = report.transient_failure or error.transient
    report.errors.append(f"{feed_url}: {message}")


def _record_failure(ctx: TaskContext, state: FeedState, exc: RegwireError, report: SourceReport) -> None:
    reason = exc.reason if isinstance(exc, FetchError | FeedParseError) else str(exc)
    _count_failure(report, state.feed_url, exc, reason)
    log.warning("feed %s failed (%s): %s", state.feed_url, "transient" if exc.transient else "permanent", exc,
                extra=exc.where())
    try:
        ctx.store.save_feed_state(after_failure(state, ctx.clock(), exc, ctx.settings.schedule, ctx.rng))
    except StoreError as store_exc:  # nothing is lost: no validator was saved, so the next run polls again
        report.errors.append(f"{state.feed_url}: feed state not saved: {store_exc}")
        log.error("feed %s: state not saved: %s", state.feed_url, store_exc)
