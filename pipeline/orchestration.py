"""What the Airflow tasks call: one function per task, JSON-serialisable results, no Airflow import.

The DAGs in ``dags/`` resolve their configuration (params, Variables, the ``regwire_search`` connection) and then call
these functions; everything here also runs from plain Python, which is how it is unit-tested.

    list_sources(path)                  enabled source names, for dynamic task mapping
    poll_source(name, settings, ...)    one source: due feeds → fetch → extract → tag → index; raises SourcePollError
    publish_batch(settings, watermark)  what changed since the last asset event: counts, ids and the new watermark
    batch_ids(extra, store)             the ids of one published batch (also when the id list was truncated)
    quality_report(ids, settings)       per-batch extraction/tagging quality numbers
    alert_batch(ids, settings)          evaluate alerts on one batch and deliver, once per (alert, article)
    deliver_alerts(settings)            digests due and retries of failed deliveries
    maintenance(settings, ...)          re-check suspended feeds, prune old versions, index migrations where due

Per-host politeness across Airflow workers: :class:`SharedHostLimiter` keeps each host's next allowed request start
in a lock file under ``REGWIRE_HOME/hosts/``, so two tasks (two processes) polling the same host still wait for each
other. It needs ``REGWIRE_HOME`` on storage every worker shares (one machine, or a shared volume in docker-compose).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import ArticleNotFoundError, ConfigError, RegwireError, SourcePollError
from .fetch import Fetcher
from .fetch.politeness import HostLimiter
from .models import FeedStatus, StoredArticle
from .runner import Pipeline, SourceReport
from .settings import Settings, load_settings
from .sources import Source, load_sources
from .sources.schedule import after_failure, reenable
from .store import open_store
from .store.base import Store

log = logging.getLogger("regwire.orchestration")

#: ids carried in an asset event's extra at most; beyond that consumers re-read the batch from the store
MAX_EVENT_IDS = 5000
#: an article shorter than this (characters) is flagged by the quality report
SHORT_TEXT = 500

__all__ = [
    "SharedHostLimiter",
    "SourcePollError",
    "alert_batch",
    "batch_ids",
    "deliver_alerts",
    "list_sources",
    "maintenance",
    "poll_source",
    "publish_batch",
    "quality_report",
    "report_dict",
    "settings_from_connection",
]


# -- configuration --------------------------------------------------------------------------------------------------

def settings_from_connection(conn: Mapping[str, Any] | None, **overrides: Any) -> Settings:
    """:meth:`Settings.from_airflow_connection` (kept for the DAGs until the task layer replaces this module)."""
    return Settings.from_airflow_connection(conn, **overrides)


def _load(settings: Settings, sources_path: str | Path | None) -> list[Source]:
    return load_sources(sources_path or settings.sources)


def list_sources(path: str | Path | None = None, settings: Settings | None = None) -> list[str]:
    """Names of the enabled sources in the sources file (``REGWIRE_SOURCES`` / the packaged file when None)."""
    settings = settings or load_settings()
    return [s.name for s in _load(settings, path) if s.enabled]


def _default_tagger(settings: Settings) -> Any:
    from .tagging import default_tagger

    return default_tagger(settings.tagging.taxonomy)


# -- shared politeness ----------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


class SharedHostLimiter(HostLimiter):
    """:class:`HostLimiter` whose per-host delay also holds across processes, through lock files in ``directory``.

    The in-process semaphore still caps concurrent requests per host within one worker; the delay between request
    starts is shared by every process that uses the same directory. A zero delay skips the files entirely.
    """

    def __init__(self, directory: Path, delay: float = 1.0, concurrency: int = 1, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        super().__init__(delay, concurrency, clock=clock, sleep=sleep)
        self.directory = Path(directory)

    def _reserve(self, host: str, delay: float) -> float:
        """Book the next start for ``host``; returns how long to wait before it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / (_UNSAFE.sub("_", host.lower()) + ".next")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64).decode("ascii", "replace").strip()
            try:
                booked = float(raw) if raw else 0.0
            except ValueError:
                booked = 0.0
            now = self._clock()
            start = max(now, booked)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{start + delay:.6f}".encode("ascii"))
            return start - now
        finally:
            os.close(fd)  # closing releases the lock

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        state = self._state(host)
        with state.slots:
            if state.delay > 0:
                with state.lock:
                    wait = self._reserve(host, state.delay)
                if wait > 0:
                    self.waited += wait
                    self._sleep(wait)
            yield


def shared_fetcher(settings: Settings) -> Fetcher:
    limiter = SharedHostLimiter(settings.home / "hosts", settings.http.host_delay, settings.http.host_concurrency)
    return Fetcher(settings, limiter=limiter)


# -- poll -----------------------------------------------------------------------------------------------------------

def report_dict(report: SourceReport) -> dict[str, Any]:
    return {
        "source": report.source, "polled": report.polled, "not_modified": report.not_modified, "new": report.new,
        "updated": report.updated, "unchanged": report.unchanged, "failed": report.failed,
        "article_errors": report.item_errors, "skipped": report.skipped, "errors": list(report.errors),
        "changed_ids": list(report.changed_ids),
    }


def poll_source(name: str, settings: Settings, *, sources_path: str | Path | None = None, force: bool = False,
                store: Store | None = None, fetcher: Fetcher | None = None, tagger: Any = "default") -> dict[str, Any]:
    """Poll one source's due feeds (every active feed when ``force``) and index what is new.

    Idempotent: articles are keyed by canonical URL and content hash, so a re-run writes nothing twice. Returns the
    report as a JSON-serialisable dict; raises :class:`SourcePollError` (carrying that dict) when a feed failed, so
    the task of this source fails while the other sources' tasks do not.
    """
    by_name = {s.name: s for s in _load(settings, sources_path)}
    if name not in by_name:
        raise ConfigError(f"source {name!r} is not in the sources file (known: {', '.join(sorted(by_name))})")
    own_store = store is None
    store = store or open_store(settings)
    own_fetcher = fetcher is None
    fetcher = fetcher or shared_fetcher(settings)
    try:
        pipeline = Pipeline(settings, store, fetcher=fetcher,
                            tagger=_default_tagger(settings) if tagger == "default" else tagger)
        report = report_dict(pipeline.run_source(by_name[name], force=force))
    finally:
        if own_fetcher:
            fetcher.close()
        if own_store:
            store.close()
    log.info("source %s: polled=%d not_modified=%d new=%d updated=%d failed=%d article_errors=%d skipped=%d",
             name, report["polled"], report["not_modified"], report["new"], report["updated"], report["failed"],
             report["article_errors"], report["skipped"])
    if report["failed"]:
        raise SourcePollError(report, transient=True)
    return report


# -- batches --------------------------------------------------------------------------------------------------------

def publish_batch(settings: Settings, previous_watermark: int, reports: Sequence[Mapping[str, Any]] = (), *,
                  store: Store | None = None, max_ids: int = MAX_EVENT_IDS) -> dict[str, Any] | None:
    """What was written since ``previous_watermark`` (the last asset event's), as an asset event extra.

    None when nothing changed: no event then. The store's change log is the source of truth (it also covers
    articles a failing source wrote before its failure); ``reports`` add per-source counts of this run.
    """
    own = store is None
    store = store or open_store(settings)
    try:
        pairs, watermark = store.changes_since(previous_watermark)
    finally:
        if own:
            store.close()
    if not pairs:
        return None
    first_version: dict[str, int] = {}
    for article_id, version in pairs:
        first_version[article_id] = min(version, first_version.get(article_id, version))
    ids = list(first_version)
    new = sum(1 for v in first_version.values() if v == 1)
    per_source = {r["source"]: {"new": r.get("new", 0), "updated": r.get("updated", 0)}
                  for r in reports if r and (r.get("new") or r.get("updated"))}
    return {
        "watermark_from": previous_watermark,
        "watermark": watermark,
        "changes": len(pairs),
        "articles": len(ids),
        "new": new,
        "updated": len(ids) - new,
        "ids": ids[:max_ids],
        "ids_truncated": len(ids) > max_ids,
        "sources": per_source,
    }


def batch_ids(extra: Mapping[str, Any], store: Store | None = None, settings: Settings | None = None) -> list[str]:
    """The article ids of one published batch; read back from the store's change log when the extra was capped."""
    if not extra.get("ids_truncated"):
        return list(extra.get("ids") or [])
    own = store is None
    store = store or open_store(settings or load_settings())
    try:
        pairs, _ = store.changes_since(int(extra["watermark_from"]))
    finally:
        if own:
            store.close()
    ids: dict[str, None] = {}
    for article_id, _version in pairs[: int(extra["changes"])]:  # ordered: the batch is the first `changes` pairs
        ids.setdefault(article_id, None)
    return list(ids)


def _articles(ids: Sequence[str], store: Store) -> tuple[list[StoredArticle], list[str]]:
    found, missing = [], []
    for article_id in dict.fromkeys(ids):
        try:
            found.append(store.get_article(article_id))
        except ArticleNotFoundError:
            missing.append(article_id)
    return found, missing


def quality_report(ids: Sequence[str], settings: Settings, *, store: Store | None = None) -> dict[str, Any]:
    """Quality numbers for one batch: extraction fallbacks, short texts, missing dates/languages, untagged."""
    own = store is None
    store = store or open_store(settings)
    try:
        articles, missing = _articles(ids, store)
    finally:
        if own:
            store.close()
    per_source: dict[str, dict[str, int]] = {}
    totals = {"articles": 0, "feed_text_fallback": 0, "short_text": 0, "no_published": 0, "no_language": 0,
              "untagged": 0, "no_jurisdiction": 0}
    flagged: list[dict[str, Any]] = []
    for article in articles:
        row = per_source.setdefault(article.source, dict.fromkeys(totals, 0))
        problems = {
            "feed_text_fallback": article.text_origin == "feed",
            "short_text": len(article.text) < SHORT_TEXT,
            "no_published": article.published is None,
            "no_language": not article.language,
            "untagged": article.tags is None or not (article.tags.topics or article.tags.jurisdictions),
            "no_jurisdiction": article.tags is None or not article.tags.jurisdictions,
        }
        for counts in (totals, row):
            counts["articles"] += 1
            for key, hit in problems.items():
                counts[key] += int(hit)
        if any(problems[k] for k in ("short_text", "no_published", "untagged")):
            flagged.append({"id": article.id, "source": article.source, "title": article.title,
                            "problems": sorted(k for k, v in problems.items() if v)})
    return {"batch": len(ids), "missing": missing, "totals": totals, "sources": per_source,
            "flagged": flagged[:100]}


def alert_batch(ids: Sequence[str], settings: Settings, *, store: Store | None = None) -> dict[str, Any]:
    """Evaluate every alert against one published batch and deliver what matched, once per (alert, article).

    Safe to retry: the delivery log makes a replayed batch send nothing twice. An :class:`AlertEvaluationError`
    (some alerts could not be evaluated) propagates so the task is retried.
    """
    from .alerts import evaluate_and_deliver

    own = store is None
    store = store or open_store(settings)
    try:
        _articles_found, missing = _articles(ids, store)
        report = evaluate_and_deliver(settings, store, list(ids))
    finally:
        if own:
            store.close()
    return {"batch": len(ids), "missing": missing, **report.as_json()}


def deliver_alerts(settings: Settings) -> dict[str, Any]:
    """Send what is due without a new batch: digests whose window closed and failed deliveries due for a retry."""
    from .alerts import deliver_due

    return deliver_due(settings).as_json()


# -- maintenance ----------------------------------------------------------------------------------------------------

def recheck_suspended(settings: Settings, store: Store, fetcher: Fetcher, *,
                      now: datetime | None = None) -> list[dict[str, Any]]:
    """Try each suspended feed once: one that answers goes back in rotation (due at once), one that fails stays
    suspended with its latest error recorded."""
    now = now or datetime.now(UTC)
    results = []
    for state in store.feed_states():
        if state.status is not FeedStatus.SUSPENDED:
            continue
        try:
            result = fetcher.get(state.feed_url, max_bytes=settings.http.max_feed_bytes)
        except RegwireError as exc:
            store.save_feed_state(after_failure(state, now, exc, settings))
            results.append({"feed": state.feed_url, "source": state.source, "recovered": False,
                            "error": str(getattr(exc, "reason", exc))})
            continue
        store.save_feed_state(reenable(state, now))
        results.append({"feed": state.feed_url, "source": state.source, "recovered": True, "status": result.status})
    return results


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _migrate_if_due(store: Store) -> dict[str, Any] | str:
    """Migrate the articles index when its live mapping lacks fields the code expects (search backends only)."""
    status, migrate = getattr(store, "status", None), getattr(store, "migrate", None)
    if not (callable(status) and callable(migrate)):
        return "unsupported by this store"
    before = status()
    if before.get("mapping_up_to_date", True):
        return {"due": False, "generation": before.get("generation")}
    log.info("index migration due: missing fields %s", before.get("missing_fields"))
    return {"due": True, "missing_fields": before.get("missing_fields"), "report": _jsonable(migrate())}


def maintenance(settings: Settings, *, retention_days: int = 365, store: Store | None = None,
                fetcher: Fetcher | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The daily maintenance: re-check suspended feeds, prune old article versions, run due index migrations.

    Pruning and migrations are done by the store when its backend offers them (``prune_versions(before=...)``;
    ``status()``/``migrate()``, run only when ``status()["mapping_up_to_date"]`` is false); a backend without them
    is reported as ``"unsupported by this store"`` rather than silently skipped. Search backends also retry their
    dead-lettered writes (``retry_deadletters()``).
    """
    now = now or datetime.now(UTC)
    own_store, own_fetcher = store is None, fetcher is None
    store = store or open_store(settings)
    fetcher = fetcher or shared_fetcher(settings)
    try:
        result: dict[str, Any] = {"suspended_feeds": recheck_suspended(settings, store, fetcher, now=now)}
        cutoff = now - timedelta(days=retention_days)
        prune = getattr(store, "prune_versions", None)
        result["prune"] = ({"before": cutoff.isoformat(), "removed": prune(before=cutoff)} if callable(prune)
                           else {"before": cutoff.isoformat(), "status": "unsupported by this store"})
        result["migrations"] = _migrate_if_due(store)
        retry = getattr(store, "retry_deadletters", None)
        if callable(retry):  # search backends park failed bulk writes in a dead-letter index
            outcome = retry()
            result["deadletters"] = {"resolved": len(outcome.resolved), "failed": len(outcome.failed)}
        result["articles"] = store.count_articles()
    finally:
        if own_fetcher:
            fetcher.close()
        if own_store:
            store.close()
    log.info("maintenance: %s", json.dumps(result, default=str))
    return result
