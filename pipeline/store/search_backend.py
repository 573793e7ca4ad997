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
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..errors import ArticleNotFoundError
from ..models import Article, FeedState, SearchResult, StoredArticle, WriteOutcome
from ..query import SearchQuery
from ..tagging.models import Tags
from .base import ArticleWrite, KnownArticle, WriteResult
from .engine import (
    ARTICLE_MAPPINGS,
    BulkItem,
    EngineClient,
    IndexMigrationError,
    IndexNames,
    SearchEngineError,
    SearchEngineRequestError,
    SearchEngineUnavailableError,
    apply_bulk_response,
    article_json,
    chunk_actions,
    deadletter_record,
    describe_error,
    facets_from,
    hit_from,
    index_template,
    reindex_body,
    search_body,
    side_indices,
    stored_from_source,
    swap_alias_actions,
    tag_fields,
    version_id,
    version_source,
)

log = logging.getLogger(__name__)
PAGE = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    article_id: str
    canonical_url: str | None
    status: int
    error_type: str
    reason: str
    attempts: int
    state: str
    failed_at: str | None = None


@dataclass(slots=True)
class MigrationReport:
    old_index: str
    new_index: str
    copied: int = 0
    caught_up: int = 0
    old_count: int = 0
    new_count: int = 0
    missing: int = 0
    seconds: float = 0.0
    deleted_old: bool = False


@dataclass(slots=True)
class RetryReport:
    resolved: list[str] = field(default_factory=list)
    failed: list[DeadLetter] = field(default_factory=list)


class SearchEngineStore:
    """Store protocol over an Elasticsearch/OpenSearch client adapter (see :class:`.engine.EngineClient`)."""

    def __init__(self, client: EngineClient, *, prefix: str = "regwire", refresh: str | bool = "wait_for",
                 max_attempts: int = 5, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 chunk_actions: int = 500, chunk_bytes: int = 10 * 1024 * 1024, ensure_schema: bool = True,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.names = client, IndexNames(prefix)
        self.refresh = refresh
        self.max_attempts, self.backoff_base, self.backoff_max = max(1, max_attempts), backoff_base, backoff_max
        self.chunk_actions, self.chunk_bytes = chunk_actions, chunk_bytes
        self.sleep, self.clock = sleep, clock
        #: items the last write_articles() call sent to the dead-letter index
        self.last_deadlettered: list[DeadLetter] = []
        #: counters for every bulk decision (actions sent, retried, dead-lettered, requests)
        self.stats: dict[str, int] = {"actions": 0, "retried": 0, "deadlettered": 0, "bulk_requests": 0}
        self._pool = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="regwire-store")
        if ensure_schema:
            self.ensure_schema()

    @property
    def engine(self) -> str:
        return self.client.engine

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _req(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.request(method, path, params={k: v for k, v in params.items() if v is not None},
                                   body=body)

    def _refresh_param(self) -> dict[str, Any]:
        if self.refresh is False or self.refresh is None:
            return {}
        return {"refresh": "true" if self.refresh is True else self.refresh}

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    def __enter__(self) -> SearchEngineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        """Index template, side indices and the first article index with its alias (idempotent, race-safe)."""
        names = self.names
        self._req("PUT", f"/_index_template/{names.template}", index_template(names))
        for index, body in side_indices(names).items():
            if not self._req("HEAD", f"/{index}"):
                self._create_index(index, body)
            else:  # side indices are not migrated: fields added since they were created are added in place
                self._req("PUT", f"/{index}/_mapping", {"properties": body["mappings"]["properties"]})
        if not self._req("HEAD", f"/_alias/{names.articles}"):
            self._create_index(names.articles_physical(1),
                               {"aliases": {names.articles: {"is_write_index": True}}})

    def _create_index(self, index: str, body: dict[str, Any]) -> None:
        try:
            self._req("PUT", f"/{index}", body)
        except SearchEngineRequestError as exc:
            if exc.error_type != "resource_already_exists_exception":
                raise

    def refresh_all(self) -> None:
        names = self.names
        self._req("POST", f"/{names.articles},{names.versions},{names.deadletter},{names.feeds}/_refresh")

    # -- bulk -----------------------------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    def run_bulk(self, items: Sequence[BulkItem], *, refresh: bool = True) -> list[BulkItem]:
        """Send actions in chunks; retry 429/5xx items with backoff; return the items rejected for good.

        Raises :class:`SearchEngineUnavailableError` when transient failures remain after ``max_attempts``.
        """
        pending = list(items)
        params = self._refresh_param() if refresh else {}
        attempt = 0
        last_problem = ""
        while pending:
            attempt += 1
            for chunk in chunk_actions(pending, max_actions=self.chunk_actions, max_bytes=self.chunk_bytes):
                self.stats["bulk_requests"] += 1
                self.stats["actions"] += len(chunk.items)
                try:
                    apply_bulk_response(chunk, self.client.bulk(chunk.ndjson(), params=params))
                except SearchEngineUnavailableError as exc:  # the whole request: node down, 429, 503 ...
                    last_problem = str(exc)
                    for item in chunk.items:
                        item.status, item.error = exc.status, exc.reason
                        item.attempts += 1
            retry = [i for i in pending if not i.ok and i.transient]
            if retry and not last_problem:
                last_problem = f"item status {retry[0].status}: {describe_error(retry[0].error)[1]}"
            if retry and attempt >= self.max_attempts:
                raise SearchEngineUnavailableError(
                    f"{len(retry)} of {len(items)} bulk action(s) still failing after {attempt} attempt(s);"
                    f" nothing was dead-lettered and the batch can be written again: {last_problem}",
                    status=retry[0].status)
            if retry:
                self.stats["retried"] += len(retry)
                delay = self._backoff(attempt)
                log.info("bulk: retrying %d action(s) in %.1fs (%s)", len(retry), delay, last_problem)
                self.sleep(delay)
            pending = retry
        return [i for i in items if not i.ok]

    # -- articles -------------------------------------------------------------------------------------------------

    def _current(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        resp = self._req("POST", f"/{self.names.articles}/_mget", {"ids": list(ids)},
                         _source="version,content_hash,urls,created_seq,seq", realtime="true")
        return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}

    def allocate_seq(self, n: int) -> int:
        """Reserve ``n`` consecutive seq numbers; returns the first."""
        resp = self._req(
            "POST", f"/{self.names.meta}/_update/seq",
            {"script": {"lang": "painless", "source": "ctx._source.value += params.n", "params": {"n": n}},
             "upsert": {"value": n}},
            retry_on_conflict=50, _source="true")
        end = int(resp["get"]["_source"]["value"])
        return end - n + 1

    def write_articles(self, writes: Sequence[ArticleWrite]) -> list[WriteResult]:  # noqa: C901 -- being split into a write plan (issue 12)
        self.last_deadlettered = []
        if not writes:
            return []
        names, now = self.names, self.clock()
        ids = [w.id for w in writes]  # hashes of the URL: computed once per write
        # the two round trips run while the records are prepared (content hashes, JSON): one seq per write, so
        # unchanged writes leave gaps, which the watermark does not mind
        current_f = self._pool.submit(self._current, list(dict.fromkeys(ids)))
        seq_f = self._pool.submit(self.allocate_seq, len(writes))
        try:
            prepared = [w.to_stored(1) for w in writes]  # computes each content hash once; version set below
        finally:
            pending: list[futures.Future[Any]] = [current_f, seq_f]
            futures.wait(pending)
        current, first = current_f.result(), seq_f.result()
        results: list[WriteResult] = []
        touched: list[BulkItem] = []
        #: per id, the newest state in this batch: (version, hash, urls, created_seq, seq, stored or None)
        state: dict[str, list[Any]] = {
            i: [int(d["version"]), d["content_hash"], set(d.get("urls") or []), d.get("created_seq"), d.get("seq"),
                None] for i, d in current.items()}
        changed: list[tuple[int, ArticleWrite, StoredArticle]] = []
        supersedes: dict[str, list[tuple[StoredArticle | None, int | None]]] = {}
        for pos, (write, article_id, stored) in enumerate(zip(writes, ids, prepared, strict=True)):
            cur = state.get(article_id)
            new_hash = stored.content_hash
            if cur is not None and cur[1] == new_hash:
                if write.feed_updated is not None:
                    touched.append(BulkItem("update", names.articles, article_id,
                                            doc={"feed_updated": write.feed_updated.astimezone(UTC).isoformat()}))
                results.append(WriteResult(article_id, WriteOutcome.UNCHANGED, cur[0]))
                continue
            stored.version = version = 1 if cur is None else cur[0] + 1
            if cur is not None:  # the version being replaced: archived below (from the engine or this batch)
                supersedes.setdefault(article_id, []).append((cur[5], cur[4]))
            urls = (cur[2] if cur else set()) | {write.article.canonical_url, *write.aliases}
            state[article_id] = [version, new_hash, urls, cur[3] if cur else None, None, stored]
            changed.append((pos, write, stored))
            results.append(WriteResult(article_id, WriteOutcome.NEW if cur is None else WriteOutcome.UPDATED,
                                       version))
        items: list[BulkItem] = []
        if changed:
            seq_of = {id(stored): first + pos for pos, _, stored in changed}
            for pos, _, stored in changed:
                st = state[stored.id]
                if st[3] is None:  # first version of a new article: its creation order for date-sort ties
                    st[3] = first + pos
                if st[5] is stored:
                    st[4] = first + pos
            from_engine = [i for i, olds in supersedes.items() if any(o is None for o, _ in olds)]
            engine_docs = self._full(from_engine)
            for article_id, olds in supersedes.items():
                for old, old_seq in olds:
                    if old is None:
                        src = engine_docs.get(article_id)
                        if src is None:
                            continue  # vanished meanwhile: nothing to archive
                        old, old_seq = stored_from_source(src), src.get("seq")
                    else:
                        old_seq = seq_of[id(old)]
                    items.append(BulkItem("index", names.versions, version_id(article_id, old.version),
                                          version_source(old, int(old_seq or 0), now)))
            for _, write, stored in changed:
                st = state[stored.id]
                if st[5] is not stored:
                    continue  # only the newest version of an article in this batch becomes its document
                raw = article_json(stored, urls=st[2], feed_updated=write.feed_updated, created_seq=st[3],
                                   seq=st[4])
                items.append(BulkItem("index", names.articles, stored.id, raw=raw))
        rejected = self.run_bulk(items + touched)
        if rejected:
            batch_archives = [i for i in items if i.index == names.versions]
            rejected_ids = self._dead_letter([i for i in rejected if i.op == "index"], batch_archives, now)
            for item in rejected:
                if item.op == "update":
                    log.warning("feed_updated of %s not recorded: %s", item.id, describe_error(item.error)[1])
            results = [r for r in results if r.id not in rejected_ids or r.outcome is WriteOutcome.UNCHANGED]
        return results

    def _full(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        resp = self._req("POST", f"/{self.names.articles}/_mget", {"ids": list(ids)}, realtime="true")
        return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}

    def _dead_letter(self, rejected: list[BulkItem], archives: list[BulkItem], now: datetime) -> set[str]:
        """Record rejected article items in the dead-letter index and undo their archived versions."""
        names = self.names
        articles = [i for i in rejected if i.index == names.articles]
        ids = {i.id for i in articles}
        records: list[BulkItem] = []
        keys = {i.id: f"{i.id}:{i.body().get('content_hash')}" for i in articles}
        previous = self._deadletter_attempts(list(keys.values()))
        for item in articles:
            dl_id = keys[item.id]
            record = deadletter_record(item, item.error, item.status or 0, attempts=previous.get(dl_id, 0) + 1,
                                       now=now)
            records.append(BulkItem("index", names.deadletter, dl_id, record))
            dead = DeadLetter(dl_id, item.id, record["canonical_url"], record["status"], record["error_type"],
                              record["reason"], record["attempts"], "pending", record["failed_at"])
            self.last_deadlettered.append(dead)
            log.warning("article %s (%s) rejected by the search engine, sent to %s: %s", item.id,
                        record["canonical_url"], names.deadletter, record["reason"])
        # the article document was not replaced, so the versions archived for it in this batch are not history yet
        records += [BulkItem("delete", names.versions, a.id) for a in archives
                    if a.id.rsplit(":", 1)[0] in ids]
        for item in rejected:
            if item.index != names.articles:  # an archived version refused: never expected (not indexed)
                log.error("version document %s rejected: %s", item.id, describe_error(item.error))
        self.stats["deadlettered"] += len(articles)
        still = [i for i in self.run_bulk(records) if not (i.op == "delete" and i.status == 404)]
        if still:
            raise SearchEngineError(f"could not record {len(still)} dead letter(s): {describe_error(still[0].error)}")
        return ids

    def _deadletter_attempts(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        resp = self._req("POST", f"/{self.names.deadletter}/_mget", {"ids": ids}, _source="attempts")
        return {d["_id"]: int(d["_source"].get("attempts", 0)) for d in resp["docs"] if d.get("found")}

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, KnownArticle]:
        known: dict[str, KnownArticle] = {}
        urls = list(dict.fromkeys(canonical_urls))
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            wanted = set(chunk)
            resp = self._req("POST", f"/{self.names.articles}/_search", {
                "query": {"terms": {"urls": chunk}}, "size": min(10_000, 4 * len(chunk)),
                "sort": [{"created_seq": "asc"}],
                "_source": ["id", "canonical_url", "version", "feed_updated", "urls"]})
            for hit in resp["hits"]["hits"]:
                src = hit["_source"]
                updated = datetime.fromisoformat(src["feed_updated"]) if src.get("feed_updated") else None
                for url in src.get("urls") or []:
                    if url in wanted:
                        known.setdefault(url, KnownArticle(src["id"], src["canonical_url"], int(src["version"]),
                                                           updated))
        return known

    def get_article(self, article_id: str) -> StoredArticle:
        try:
            doc = self._req("GET", f"/{self.names.articles}/_doc/{quote(article_id, safe='')}")
            if doc.get("found"):
                return stored_from_source(doc["_source"])
        except SearchEngineRequestError as exc:
            if exc.status != 404:
                raise
        resp = self._req("POST", f"/{self.names.articles}/_search",
                         {"query": {"prefix": {"id": article_id}}, "size": 2})
        hits = resp["hits"]["hits"]
        if len(hits) != 1 or not article_id:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        return stored_from_source(hits[0]["_source"])

    def article_versions(self, article_id: str) -> list[StoredArticle]:
        current = self.get_article(article_id)
        resp = self._req("POST", f"/{self.names.versions}/_search", {
            "query": {"bool": {"filter": [{"term": {"article_id": current.id}},
                                          {"range": {"version": {"lt": current.version}}}]}},
            "sort": [{"version": "asc"}], "size": 10_000})
        return [StoredArticle.model_validate(h["_source"]["doc"]) for h in resp["hits"]["hits"]] + [current]

    def _scan(self, index: str, query: dict[str, Any], sort: list[Any], source: Any,
              batch_size: int = PAGE) -> Iterator[dict[str, Any]]:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "sort": sort, "size": batch_size, "_source": source}
            if after is not None:
                body["search_after"] = after
            hits = self._req("POST", f"/{index}/_search", body)["hits"]["hits"]
            yield from hits
            if len(hits) < batch_size:
                return
            after = hits[-1]["sort"]

    def iter_articles(self, batch_size: int = 500) -> Iterator[StoredArticle]:
        for hit in self._scan(self.names.articles, {"match_all": {}}, [{"created_seq": "asc"}, {"id": "asc"}],
                              True, batch_size):
            yield stored_from_source(hit["_source"])

    def count_articles(self) -> int:
        return int(self._req("GET", f"/{self.names.articles}/_count")["count"])

    def changes_since(self, watermark: int, source: str | None = None) -> tuple[list[tuple[str, int]], int]:
        """Every version (current ones in the article docs, superseded ones in the versions index) by ``seq``;
        of ``source``'s articles only when given (a superseded version's source is its article's)."""
        changes: list[tuple[str, int, int]] = []
        seen: set[tuple[str, int]] = set()
        last = watermark
        for hit in self._scan(f"{self.names.articles},{self.names.versions}", {"range": {"seq": {"gt": watermark}}},
                              [{"seq": "asc"}], ["id", "article_id", "version", "seq"]):
            src = hit["_source"]
            pair = (src.get("article_id") or src["id"], int(src["version"]))
            last = max(last, int(src["seq"]))
            if pair not in seen:  # a retried batch can leave an archive of the current version behind
                seen.add(pair)
                changes.append((*pair, int(src["seq"])))
        if source is not None:
            sources = self._sources_of(list({article_id for article_id, _, _ in changes}))
            changes = [c for c in changes if sources.get(c[0]) == source]
            last = max((seq for _, _, seq in changes), default=watermark)
        return [(article_id, version) for article_id, version, _ in changes], last

    def _sources_of(self, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), PAGE):
            resp = self._req("POST", f"/{self.names.articles}/_mget", {"ids": ids[start:start + PAGE]},
                             _source="source")
            found.update({d["_id"]: d["_source"]["source"] for d in resp["docs"] if d.get("found")})
        return found

    def prune_versions(self, before: datetime) -> int:
        """Delete superseded versions fetched before ``before``; current versions live in the article docs."""
        resp = self._req("POST", f"/{self.names.versions}/_delete_by_query",
                         {"query": {"range": {"fetched_at": {"lt": before.astimezone(UTC).isoformat()}}}},
                         refresh="true", conflicts="proceed")
        return int(resp.get("deleted", 0))

    def set_tags(self, article_id: str, tags: Tags) -> None:
        stored = self.get_article(article_id)
        self._req("POST", f"/{self.names.articles}/_update/{quote(stored.id, safe='')}", {"doc": tag_fields(tags)},
                  retry_on_conflict=5, **self._refresh_param())

    # -- search ---------------------------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        body = search_body(query)
        resp = self._req("POST", f"/{self.names.articles}/_search", body)
        hits = [hit_from(h) for h in resp["hits"]["hits"]]
        facets = facets_from(resp.get("aggregations") or {}) if query.facets else {}
        return SearchResult(total=int(resp["hits"]["total"]["value"]), hits=hits, facets=facets,
                            query=query.model_dump(mode="json"))

    # -- feed state -----------------------------------------------------------------------------------------------

    @staticmethod
    def _feed_id(feed_url: str) -> str:
        return hashlib.blake2b(feed_url.encode("utf-8"), digest_size=16).hexdigest()

    def get_feed_state(self, feed_url: str) -> FeedState | None:
        try:
            doc = self._req("GET", f"/{self.names.feeds}/_doc/{self._feed_id(feed_url)}")
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                return None
            raise
        return FeedState.model_validate(doc["_source"]["state"]) if doc.get("found") else None

    def save_feed_state(self, state: FeedState) -> None:
        self._req("PUT", f"/{self.names.feeds}/_doc/{self._feed_id(state.feed_url)}",
                  {"feed_url": state.feed_url, "source": state.source, "state": state.model_dump(mode="json")},
                  **self._refresh_param())

    def feed_states(self) -> list[FeedState]:
        return [FeedState.model_validate(h["_source"]["state"])
                for h in self._scan(self.names.feeds, {"match_all": {}}, [{"source": "asc"}, {"feed_url": "asc"}],
                                    ["state"])]

    # -- dead letters ---------------------------------------------------------------------------------------------

    def deadletters(self, state: str | None = "pending", limit: int = 100) -> list[DeadLetter]:
        query: dict[str, Any] = {"term": {"state": state}} if state else {"match_all": {}}
        resp = self._req("POST", f"/{self.names.deadletter}/_search", {
            "query": query, "size": limit, "sort": [{"failed_at": "desc"}],
            "_source": {"excludes": ["document"]}})
        out = []
        for hit in resp["hits"]["hits"]:
            s = hit["_source"]
            out.append(DeadLetter(hit["_id"], s["article_id"], s.get("canonical_url"), int(s.get("status") or 0),
                                  s.get("error_type", ""), s.get("reason", ""), int(s.get("attempts", 1)),
                                  s.get("state", "pending"), s.get("failed_at")))
        return out

    def retry_deadletters(self, ids: Sequence[str] | None = None) -> RetryReport:
        """Write pending dead letters again (after a mapping fix or ``index migrate``); resolved ones are marked."""
        names = self.names
        query: dict[str, Any] = {"ids": {"values": list(ids)}} if ids else {"term": {"state": "pending"}}
        report = RetryReport()
        for hit in list(self._scan(names.deadletter, query, [{"failed_at": "asc"}, {"article_id": "asc"}], True)):
            doc = hit["_source"]["document"]
            stored = stored_from_source(doc)
            article = Article.model_validate(stored.model_dump(include=set(Article.model_fields)))
            write = ArticleWrite(
                article=article, source=stored.source, fetched_at=stored.fetched_at, feed_url=stored.feed_url,
                tags=stored.tags, aliases=[u for u in doc.get("urls") or [] if u != stored.canonical_url],
                feed_updated=datetime.fromisoformat(doc["feed_updated"]) if doc.get("feed_updated") else None)
            self.write_articles([write])
            failed = [d for d in self.last_deadlettered if d.article_id == write.id]
            if failed:
                report.failed.extend(failed)
            else:
                self._req("POST", f"/{names.deadletter}/_update/{quote(hit['_id'], safe='')}",
                          {"doc": {"state": "resolved"}},
                          **self._refresh_param())
                report.resolved.append(hit["_id"])
        return report

    # -- index management -----------------------------------------------------------------------------------------

    def physical_indices(self) -> list[str]:
        try:
            return sorted(self._req("GET", f"/_alias/{self.names.articles}").keys())
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                return []
            raise

    def _count(self, index: str) -> int:
        return int(self._req("GET", f"/{index}/_count")["count"])

    def status(self) -> dict[str, Any]:
        names = self.names
        physical = self.physical_indices()
        live = self._req("GET", f"/{physical[0]}/_mapping")[physical[0]]["mappings"] if physical else {}
        wanted = set(ARTICLE_MAPPINGS["properties"])
        have = set(live.get("properties", {}))
        pending = self._req("POST", f"/{names.deadletter}/_count", {"query": {"term": {"state": "pending"}}})
        try:
            seq = int(self._req("GET", f"/{names.meta}/_doc/seq")["_source"]["value"])
        except SearchEngineRequestError:
            seq = 0
        return {
            "engine": self.engine, "alias": names.articles, "indices": physical,
            "generation": names.generation_of(physical[0]) if physical else None,
            "articles": self.count_articles() if physical else 0, "versions": self._count(names.versions),
            "feeds": self._count(names.feeds), "deadletter_pending": int(pending["count"]), "seq": seq,
            "mapping_up_to_date": wanted <= have, "missing_fields": sorted(wanted - have),
        }

    def _reindex(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run ``_reindex`` as a task and poll it (no HTTP request has to outlive a large copy)."""
        task = self._req("POST", "/_reindex", body, refresh="true", wait_for_completion="false")["task"]
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            state = self._req("GET", f"/_tasks/{task}")
            if state.get("completed"):
                if state.get("error"):
                    raise IndexMigrationError(f"reindex task {task} failed: {state['error']}")
                return state.get("response", {})
            if time.monotonic() > deadline:
                raise IndexMigrationError(f"reindex task {task} still running after {timeout:.0f}s")
            self.sleep(delay)
            delay = min(1.0, delay * 2)

    def migrate(self, *, delete_old: bool = False, timeout: float = 3600.0) -> MigrationReport:
        """Create the next physical index from the current template, copy, swap the alias, catch up, verify.

        Writers keep going throughout: before the swap they write to the old index, afterwards to the new one; the
        catch-up pass copies what reached the old index in between (external versions, conflicts skipped).
        """
        names = self.names
        t0 = time.monotonic()
        physical = self.physical_indices()
        if len(physical) != 1:
            raise IndexMigrationError(f"alias {names.articles} points at {physical or 'nothing'}; expected one index")
        old = physical[0]
        new = names.articles_physical(names.generation_of(old) + 1)
        report = MigrationReport(old, new)
        self._req("PUT", f"/_index_template/{names.template}", index_template(names))
        if self._req("HEAD", f"/{new}"):
            raise IndexMigrationError(f"{new} exists already (a failed migration?); delete it and run again")
        self._req("PUT", f"/{new}", {})
        first = self._reindex(reindex_body(old, new), timeout)
        if first.get("failures"):
            raise IndexMigrationError(f"reindex {old} → {new} failed: {first['failures'][:3]}")
        report.copied = int(first.get("created", 0)) + int(first.get("updated", 0))
        self._req("POST", "/_aliases", swap_alias_actions(names.articles, [old], new))
        # retire the old index: a write that resolved the alias before the swap but reaches the shard afterwards is
        # refused (writers retry a write block, and the retry lands in the new index); what got in before is
        # made visible to the catch-up copy by the refresh
        self._req("PUT", f"/{old}/_block/write")
        self._req("POST", f"/{old}/_refresh")
        second = self._reindex(reindex_body(old, new, catch_up=True), timeout)
        bad = [f for f in second.get("failures", []) if f.get("status") != 409]
        if bad:
            raise IndexMigrationError(f"catch-up reindex {old} → {new} failed: {bad[:3]}")
        report.caught_up = int(second.get("created", 0)) + int(second.get("updated", 0))
        self._req("POST", f"/{old},{new}/_refresh")
        report.old_count, report.new_count = self._count(old), self._count(new)
        report.missing = self._missing_ids(old, new)
        if report.missing or report.new_count < report.old_count:
            raise IndexMigrationError(
                f"verification failed: {old} has {report.old_count}, {new} has {report.new_count},"
                f" {report.missing} id(s) missing; the alias points at {new}, {old} is kept")
        if delete_old:
            self._req("DELETE", f"/{old}")
            report.deleted_old = True
        report.seconds = round(time.monotonic() - t0, 3)
        return report

    def _missing_ids(self, old: str, new: str) -> int:
        missing = 0
        batch: list[str] = []

        def check(ids: list[str]) -> int:
            docs = self._req("POST", f"/{new}/_mget", {"ids": ids}, _source="false")["docs"]
            return sum(1 for d in docs if not d.get("found"))

        for hit in self._scan(old, {"match_all": {}}, [{"created_seq": "asc"}, {"id": "asc"}], False, 5000):
            batch.append(hit["_id"])
            if len(batch) >= 5000:
                missing += check(batch)
                batch = []
        if batch:
            missing += check(batch)
        return missing


def open_search_store(settings: Any, **kwargs: Any) -> SearchEngineStore:
    """The backend ``settings.search.engine`` names, with a client built from ``REGWIRE_SEARCH_*``."""
    if settings.search.engine == "opensearch":
        from .opensearch import OpenSearchAdapter

        client: EngineClient = OpenSearchAdapter.from_settings(settings)
    else:
        from .elastic import ElasticsearchAdapter

        client = ElasticsearchAdapter.from_settings(settings)
    return SearchEngineStore(client, prefix=settings.search.index_prefix, **kwargs)
