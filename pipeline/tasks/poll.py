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

from ..errors import ConfigError, FeedParseError, FetchError, RegwireError, SourcePollError, StoreError
from ..logs import log_context
from ..models import FeedState, FeedStatus
from ..sources import Source, load_sources
from ..sources.schedule import after_failure, after_success, is_due
from .context import TaskContext
from .health import unhealthy_reason
from .ingest import ingest_items
from .report import SourceReport
from .workers import parse_feed_in_worker

log = logging.getLogger("regwire.poll")


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
        for feed_url in source.feeds:
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
    except RegwireError as exc:  # recorded on the feed; the next feed still runs
        _record_failure(ctx, state, exc.at(source=source.name, feed=feed_url), report)
    except Exception as exc:  # a bug must not stop the other feeds either; it is logged with its traceback
        log.exception("feed %s: unexpected error", feed_url)
        error = RegwireError(f"internal error: {type(exc).__name__}: {exc}").at(source=source.name, feed=feed_url)
        _record_failure(ctx, state, error, report)


def _poll_feed(ctx: TaskContext, source: Source, state: FeedState, report: SourceReport) -> None:
    report.polled += 1
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    now = ctx.clock()
    started = time.monotonic()
    result = ctx.fetcher.get(state.feed_url, headers=headers, max_bytes=ctx.settings.http.max_feed_bytes)
    fetch_seconds = time.monotonic() - started
    interval = source.poll_interval or ctx.settings.schedule.default_poll_interval
    if result.not_modified:
        report.not_modified += 1
        ctx.store.save_feed_state(after_success(state, now, interval, status=304, fetch_seconds=fetch_seconds))
        return
    items = ctx.extraction.call(parse_feed_in_worker, result.content, result.final_url,
                                result.headers.get("content-type"), what=state.feed_url)
    new, updated = report.new, report.updated
    failures = ingest_items(ctx, source, items, report)
    # Cache validators are kept only when every item made it into the store: otherwise the next poll would get a
    # 304 and the failed items would never be retried.
    keep = failures == 0
    ctx.store.save_feed_state(after_success(
        state, now, interval, status=result.status, items=len(items), fetch_seconds=fetch_seconds,
        new=report.new - new, updated=report.updated - updated,
        etag=result.headers.get("etag") if keep else None,
        last_modified=result.headers.get("last-modified") if keep else None,
    ))


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
