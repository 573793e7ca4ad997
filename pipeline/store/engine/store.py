"""The Store protocol over Elasticsearch or OpenSearch (the client is injected; see ``elastic.py``/``opensearch.py``).

Semantics follow the embedded SQLite store: write results by content hash (current docs read with ``_mget``),
the current version in the article document and every superseded one archived in ``<prefix>-article-versions``,
alias URLs in the ``urls`` keyword array, and ``seq`` as the change watermark. ``seq`` comes from one counter
document in ``<prefix>-meta`` that a painless script bumps by the number of writes in each call (``_update`` with
``retry_on_conflict``), so every version gets a unique, increasing number even with several writers (unchanged
writes leave gaps). A reader of ``changes_since`` can miss a version only while another writer holds an allocated
block it has not written yet (one bulk request); downstream DAGs re-read a small overlap if that matters.

Bulk writes are chunked by actions and bytes; per-item 429/5xx are retried with exponential backoff; items the engine
rejects (mapping or parse errors) go to ``<prefix>-deadletter`` with the reason and are reported in
``last_deadlettered``. If the engine stays unreachable the write raises :class:`SearchEngineUnavailableError`
(a StoreError): the pipeline then keeps the feed's cache validators, so the next run fetches the batch again; ids
are article ids, so a repeated batch never makes a duplicate.

The jobs live in the sibling modules (writes plan, bulk, dead letters, admin, articles, feeds, queries); this class
only wires them together and does the I/O of a write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

from ...models import FeedState, SearchResult, StoredArticle, Story
from ...query import SearchQuery
from ...tagging.models import Tags
from ..base import ArticleWrite, KnownArticle, WriteResult
from .admin import IndexAdmin, MigrationReport
from .articles import ArticleReader
from .bulk import BulkItem, BulkRunner
from .clients import EngineClient, EngineSession, describe_error
from .deadletters import DeadLetter, DeadLetters, RetryReport
from .feeds import FeedStates
from .names import IndexNames
from .queries import facets_from, hit_from, search_body
from .stories import assign_stories, attach_story_sizes, backfill_stories, timeline
from .writes import ArticleState, archive_items, plan_writes, without_rejected

log = logging.getLogger(__name__)


class SearchEngineStore:
    """Store protocol over an Elasticsearch/OpenSearch client adapter (see :class:`.clients.EngineClient`)."""

    def __init__(self, client: EngineClient, *, prefix: str = "regwire", refresh: str | bool = "wait_for",
                 max_attempts: int = 5, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 chunk_actions: int = 500, chunk_bytes: int = 10 * 1024 * 1024, ensure_schema: bool = True,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.names, self.clock = client, IndexNames(prefix), clock
        self.session = EngineSession(client, self.names, refresh)
        self.bulk = BulkRunner(client, sleep, max_attempts=max(1, max_attempts), backoff_base=backoff_base,
                               backoff_max=backoff_max, chunk_actions=chunk_actions, chunk_bytes=chunk_bytes)
        self.indices = IndexAdmin(self.session, sleep)
        self.reader = ArticleReader(self.session)
        self.feeds = FeedStates(self.session)
        self.dead = DeadLetters(self.session, self.bulk)
        #: items the last write_articles() call sent to the dead-letter index
        self.last_deadlettered: list[DeadLetter] = []
        #: counters for every bulk decision (actions sent, retried, dead-lettered, requests)
        self.stats = self.bulk.stats
        self._pool = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="regwire-store")
        if ensure_schema:
            self.ensure_schema()

    @property
    def engine(self) -> str:
        return self.client.engine

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    def __enter__(self) -> SearchEngineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------------------------

    def run_bulk(self, items: Sequence[BulkItem], *, refresh: bool = True) -> list[BulkItem]:
        """Send actions in chunks with retries (see :class:`.bulk.BulkRunner`); return the items rejected for good."""
        return self.bulk.run(items, params=self.session.refresh_param() if refresh else {})

    def allocate_seq(self, n: int) -> int:
        """Reserve ``n`` consecutive seq numbers; returns the first."""
        resp = self.session.req(
            "POST", f"/{self.names.meta}/_update/seq",
            {"script": {"lang": "painless", "source": "ctx._source.value += params.n", "params": {"n": n}},
             "upsert": {"value": n}},
            retry_on_conflict=50, _source="true")
        end = int(resp["get"]["_source"]["value"])
        return end - n + 1

    def _current(self, ids: Sequence[str]) -> dict[str, ArticleState]:
        docs = self.session.mget(self.names.articles, ids, _source="version,content_hash,urls,created_seq,seq",
                                 realtime="true")
        return {article_id: ArticleState.from_source(doc) for article_id, doc in docs.items()}

    def write_articles(self, writes: Sequence[ArticleWrite]) -> list[WriteResult]:
        self.last_deadlettered = []
        if not writes:
            return []
        now = self.clock()
        # the two round trips run while the records are prepared (content hashes, JSON)
        current_f = self._pool.submit(self._current, list(dict.fromkeys(w.id for w in writes)))
        seq_f = self._pool.submit(self.allocate_seq, len(writes))
        try:
            prepared = [w.to_stored(1) for w in writes]  # computes each content hash once; version set by the plan
        finally:
            pending: list[futures.Future[Any]] = [current_f, seq_f]
            futures.wait(pending)
        assign_stories(self.session, prepared, current_f.result().keys())
        plan = plan_writes(writes, prepared, current_f.result(), seq_f.result(), self.names)
        engine_docs = self.session.mget(self.names.articles, plan.from_engine, realtime="true")
        archives = archive_items(plan.superseded, engine_docs, self.names, now)
        rejected = self.run_bulk(archives + plan.articles + plan.touched)
        if not rejected:
            return plan.results
        self.last_deadlettered = self.dead.record([i for i in rejected if i.op == "index"], archives, now)
        for item in rejected:
            if item.op == "update":
                log.warning("feed_updated of %s not recorded: %s", item.id, describe_error(item.error)[1])
        rejected_ids = {i.id for i in rejected if i.op == "index" and i.index == self.names.articles}
        return without_rejected(plan.results, rejected_ids)

    # -- reads ----------------------------------------------------------------------------------------------------

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, KnownArticle]:
        return self.reader.known_articles(canonical_urls)

    def get_article(self, article_id: str) -> StoredArticle:
        return self.reader.get_article(article_id)

    def article_versions(self, article_id: str) -> list[StoredArticle]:
        return self.reader.article_versions(article_id)

    def iter_articles(self, batch_size: int = 500) -> Iterator[StoredArticle]:
        return self.reader.iter_articles(batch_size)

    def count_articles(self) -> int:
        return self.reader.count_articles()

    def changes_since(self, watermark: int, source: str | None = None) -> tuple[list[tuple[str, int]], int]:
        return self.reader.changes_since(watermark, source)

    def prune_versions(self, before: datetime) -> int:
        return self.reader.prune_versions(before)

    def set_tags(self, article_id: str, tags: Tags) -> None:
        self.reader.set_tags(article_id, tags)

    def search(self, query: SearchQuery) -> SearchResult:
        body = search_body(query)
        resp = self.session.req("POST", f"/{self.names.articles}/_search", body)
        hits = [hit_from(h) for h in resp["hits"]["hits"]]
        attach_story_sizes(self.session, hits)
        facets = facets_from(resp.get("aggregations") or {}) if query.facets else {}
        return SearchResult(total=int(resp["hits"]["total"]["value"]), hits=hits, facets=facets,
                            query=query.model_dump(mode="json"))

    def stories(self, *, jurisdiction: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = 100) -> list[Story]:
        return timeline(self.session, jurisdiction=jurisdiction, since=since, until=until, limit=limit)

    def backfill_stories(self) -> int:
        """Cluster the articles written before stories existed; returns how many."""
        return backfill_stories(self.session, self.run_bulk)

    # -- feed state -----------------------------------------------------------------------------------------------

    def get_feed_state(self, feed_url: str) -> FeedState | None:
        return self.feeds.get(feed_url)

    def save_feed_state(self, state: FeedState) -> None:
        self.feeds.save(state)

    def feed_states(self) -> list[FeedState]:
        return self.feeds.all()

    # -- admin (StoreAdmin) ---------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        self.indices.ensure_schema()

    def refresh_all(self) -> None:
        self.indices.refresh_all()

    def physical_indices(self) -> list[str]:
        return self.indices.physical_indices()

    def status(self) -> dict[str, Any]:
        return self.indices.status()

    def migrate(self, *, delete_old: bool = False, timeout: float = 3600.0) -> MigrationReport:
        return self.indices.migrate(delete_old=delete_old, timeout=timeout)

    def deadletters(self, state: str | None = "pending", limit: int = 100) -> list[DeadLetter]:
        return self.dead.pending(state, limit)

    def retry_deadletters(self, ids: Sequence[str] | None = None) -> RetryReport:
        """Write pending dead letters again (after a mapping fix or ``index migrate``); resolved ones are marked."""
        return self.dead.retry(self._write_one, ids)

    def _write_one(self, write: ArticleWrite) -> list[DeadLetter]:
        self.write_articles([write])
        return self.last_deadlettered


def open_search_store(settings: Any, **kwargs: Any) -> SearchEngineStore:
    """The backend ``settings.search.engine`` names, with a client built from ``REGWIRE_SEARCH_*``."""
    if settings.search.engine == "opensearch":
        from ..opensearch import OpenSearchAdapter

        client: EngineClient = OpenSearchAdapter.from_settings(settings)
    else:
        from ..elastic import ElasticsearchAdapter

        client = ElasticsearchAdapter.from_settings(settings)
    return SearchEngineStore(client, prefix=settings.search.index_prefix, **kwargs)
