"""Request bodies shared by the Elasticsearch and OpenSearch backends (nothing here knows which client is used).

Index layout for ``prefix`` (``settings.search.index_prefix``)::

    <prefix>-articles              alias (read + write, ``is_write_index``) over one physical index
    <prefix>-articles-v<N>         physical article index, created from the ``<prefix>-articles`` index template
    <prefix>-article-versions      superseded versions, id ``<article_id>:<version>``, each with its ``seq``
    <prefix>-feeds                 feed state (ETag, error counters, next poll), id = hash of the feed URL
    <prefix>-deadletter            documents the engine rejected (mapping/parse errors), with the reason
    <prefix>-meta                  the ``seq`` counter (one doc, bumped by a painless script per batch)

The client adapters (``elastic.py``, ``opensearch.py``) map their library's errors to :class:`SearchEngineError`
and its subclasses (defined in :mod:`pipeline.errors`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import (  # noqa: F401 - re-exported for the adapters and the store
    IndexMigrationError,
    SearchEngineError,
    SearchEngineRequestError,
    SearchEngineUnavailableError,
)
from ..models import SearchHit, StoredArticle
from ..query import SearchQuery, Sort, positive_words
from .engine_query import engine_query

#: article doc fields that are not part of StoredArticle (denormalised for search, aggregations and bookkeeping)
SEARCH_ONLY_FIELDS = ("urls", "topics", "jurisdictions", "primary_jurisdiction", "entities", "relevance",
                      "feed_updated", "created_seq", "seq")
SNIPPET_CHARS = 240
FACET_SIZE = 1000
MAX_WINDOW = 10_000


# -- errors (the classes live in pipeline.errors) ------------------------------------------------------------


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


# -- the client seam ------------------------------------------------------------------------------------------------


class EngineClient(Protocol):
    """What the store needs from a client: one JSON request, one NDJSON bulk request. Adapters map errors."""

    engine: str

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:
        """Perform a request; returns the decoded JSON body (or True/False for HEAD)."""

    def bulk(self, ndjson: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


# -- names ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexNames:
    prefix: str

    @property
    def articles(self) -> str:
        """The alias every read and write goes through."""
        return f"{self.prefix}-articles"

    def articles_physical(self, generation: int) -> str:
        return f"{self.prefix}-articles-v{generation}"

    @property
    def articles_pattern(self) -> str:
        return f"{self.prefix}-articles-v*"

    @property
    def versions(self) -> str:
        return f"{self.prefix}-article-versions"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}-deadletter"

    @property
    def meta(self) -> str:
        return f"{self.prefix}-meta"

    @property
    def template(self) -> str:
        return f"{self.prefix}-articles"

    def generation_of(self, index: str) -> int:
        return int(index.rsplit("-v", 1)[1])


# -- mappings -------------------------------------------------------------------------------------------------------

#: English stemming like the embedded store's FTS5 ``porter unicode61 remove_diacritics 2``: Porter stemmer,
#: case- and accent-folding, and no stop words (FTS5 has none either, so "bank of england" behaves the same).
ANALYSIS: dict[str, Any] = {
    "filter": {
        "regwire_possessive": {"type": "stemmer", "language": "possessive_english"},
        "regwire_porter": {"type": "stemmer", "language": "english"},
    },
    "analyzer": {
        "regwire_english": {
            "type": "custom", "tokenizer": "standard",
            "filter": ["regwire_possessive", "lowercase", "asciifolding", "regwire_porter"],
        },
    },
}

_KW = {"type": "keyword"}
_STORED_ONLY = {"type": "object", "enabled": False}


def _analysed_text() -> dict[str, Any]:
    return {"type": "text", "analyzer": "regwire_english", "index_options": "offsets",
            "fields": {"std": {"type": "text", "analyzer": "standard"}}}


ARTICLE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": _KW, "url": _KW, "canonical_url": _KW, "urls": _KW,
        "title": _analysed_text(), "text": _analysed_text(),
        "summary": {"type": "text", "analyzer": "regwire_english"},
        "published": {"type": "date"}, "fetched_at": {"type": "date"}, "feed_updated": {"type": "date"},
        "authors": _KW, "language": _KW, "categories": _KW, "site_tags": _KW,
        "image": {"type": "keyword", "index": False, "doc_values": False},
        "sitename": _KW, "text_origin": _KW, "source": _KW, "feed_url": _KW,
        "content_hash": _KW, "version": {"type": "integer"}, "created_seq": {"type": "long"},
        "seq": {"type": "long"},  # the change watermark of the current version
        "topics": _KW, "jurisdictions": _KW, "primary_jurisdiction": _KW,
        "entities": {"properties": {"name": _KW, "type": _KW, "jurisdiction": _KW}},
        "relevance": {"type": "float"},
        "tags": _STORED_ONLY,  # the full tag record (matches, offsets): returned, never searched
    },
}


def index_template(names: IndexNames, *, shards: int = 1, replicas: str = "0-1") -> dict[str, Any]:
    """Composable index template for the physical article indices (same body on ES 7.10+/8/9 and OpenSearch)."""
    return {
        "index_patterns": [names.articles_pattern],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": shards, "auto_expand_replicas": replicas, "analysis": ANALYSIS},
            "mappings": ARTICLE_MAPPINGS,
        },
        "_meta": {"managed_by": "regwire", "description": "regwire articles (versioned physical indices)"},
    }


def side_indices(names: IndexNames) -> dict[str, dict[str, Any]]:
    """Bodies of the small indices that are not migrated (versions, feeds, dead letters, meta)."""
    settings = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
    return {
        names.versions: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "article_id": _KW, "version": {"type": "integer"}, "content_hash": _KW, "seq": {"type": "long"},
            "fetched_at": {"type": "date"}, "written_at": {"type": "date"}, "doc": _STORED_ONLY}}},
        names.feeds: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "feed_url": _KW, "source": _KW, "state": _STORED_ONLY}}},
        names.deadletter: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "article_id": _KW, "canonical_url": _KW, "source": _KW, "index": _KW, "status": {"type": "integer"},
            "error_type": _KW, "reason": {"type": "text", "fields": {"raw": {"type": "keyword",
                                                                           "ignore_above": 1024}}},
            "failed_at": {"type": "date"}, "attempts": {"type": "integer"}, "state": _KW,
            "document": _STORED_ONLY}}},
        names.meta: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "value": {"type": "long"}}}},
    }


# -- documents ------------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def article_extras(stored: StoredArticle, *, urls: Iterable[str], feed_updated: datetime | None,
                   created_seq: int, seq: int) -> dict[str, Any]:
    """Fields of the article document beyond the StoredArticle: denormalised tags, alias URLs, bookkeeping."""
    tags = stored.tags
    return {
        "urls": sorted(set(urls)),
        "topics": tags.topics if tags else [],
        "jurisdictions": tags.jurisdictions if tags else [],
        "primary_jurisdiction": tags.primary_jurisdiction if tags else None,
        "entities": [e.model_dump(mode="json") for e in tags.entities] if tags else [],
        "relevance": tags.relevance if tags else None,
        "feed_updated": _iso(feed_updated),
        "created_seq": created_seq,
        "seq": seq,
    }


def article_source(stored: StoredArticle, *, urls: Iterable[str], feed_updated: datetime | None,
                   created_seq: int, seq: int = 0) -> dict[str, Any]:
    """The article document: the StoredArticle as JSON plus denormalised tag fields for filters and facets."""
    doc = stored.model_dump(mode="json")
    doc.update(article_extras(stored, urls=urls, feed_updated=feed_updated, created_seq=created_seq, seq=seq))
    return doc


def article_json(stored: StoredArticle, **extras: Any) -> str:
    """``article_source`` serialised, fast: pydantic's JSON of the record with the extras spliced in."""
    base = stored.model_dump_json()
    more = json.dumps(article_extras(stored, **extras), separators=(",", ":"), ensure_ascii=False)
    return base[:-1] + "," + more[1:]


def tag_fields(tags: Any) -> dict[str, Any]:
    """The partial update that re-tags an article doc."""
    return {"tags": tags.model_dump(mode="json"), "topics": tags.topics, "jurisdictions": tags.jurisdictions,
            "primary_jurisdiction": tags.primary_jurisdiction,
            "entities": [e.model_dump(mode="json") for e in tags.entities], "relevance": tags.relevance}


def stored_from_source(source: Mapping[str, Any]) -> StoredArticle:
    return StoredArticle.model_validate({k: v for k, v in source.items() if k not in SEARCH_ONLY_FIELDS})


def version_source(stored: StoredArticle, seq: int, written_at: datetime) -> dict[str, Any]:
    """A superseded version, archived when a newer one replaces it (the current version lives in the article doc)."""
    return {"article_id": stored.id, "version": stored.version, "content_hash": stored.content_hash, "seq": seq,
            "fetched_at": _iso(stored.fetched_at), "written_at": _iso(written_at),
            "doc": stored.model_dump(mode="json")}


def version_id(article_id: str, version: int) -> str:
    return f"{article_id}:{version}"


def deadletter_record(item: BulkItem, error: Mapping[str, Any] | str, status: int, *, attempts: int,
                      now: datetime) -> dict[str, Any]:
    """A dead-letter document for an item the engine rejected: the reason and everything needed to retry it."""
    error_type, reason = describe_error(error)
    doc = item.body()
    return {"article_id": item.id, "canonical_url": doc.get("canonical_url"), "source": doc.get("source"),
            "index": item.index, "status": status, "error_type": error_type, "reason": reason,
            "failed_at": _iso(now), "attempts": attempts, "state": "pending", "document": doc}


def describe_error(error: Mapping[str, Any] | str | None) -> tuple[str, str]:
    """(type, reason) of an engine error object, following ``caused_by`` for the root cause."""
    if error is None:
        return "unknown", ""
    if isinstance(error, str):
        return "error", error
    error_type = str(error.get("type", "error"))
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason = f"{reason}: {cause.get('type', '')}: {cause['reason']}".strip()
    return error_type, reason


# -- bulk -----------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BulkItem:
    """One bulk action (index, update or delete) and what came of it."""

    op: str
    index: str
    id: str
    source: dict[str, Any] | None = None
    #: for "update": the partial document
    doc: dict[str, Any] | None = None
    status: int | None = None
    error: Any = None
    attempts: int = 0
    #: the source already serialised (the writer builds it once); ``source`` is parsed from it when needed
    raw: str | None = None

    def lines(self) -> list[str]:
        head = json.dumps({self.op: {"_index": self.index, "_id": self.id}}, separators=(",", ":"))
        if self.op == "delete":
            return [head]
        if self.op == "index" and self.raw is not None:
            return [head, self.raw]
        body = {"doc": self.doc} if self.op == "update" else self.source
        return [head, json.dumps(body, separators=(",", ":"), ensure_ascii=False)]

    def body(self) -> dict[str, Any]:
        if self.source is None and self.raw is not None:
            self.source = json.loads(self.raw)
        return self.source or {}

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth retrying: 429/5xx, no answer, or a write block (the index was retired by a migration: a retry
        resolves the alias again and lands in the new index)."""
        if self.status is None or is_transient_status(self.status):
            return True
        return isinstance(self.error, Mapping) and self.error.get("type") == "cluster_block_exception"


@dataclass(slots=True)
class Chunk:
    items: list[BulkItem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    size: int = 0

    def ndjson(self) -> str:
        return "\n".join(self.lines) + "\n"


def chunk_actions(items: Sequence[BulkItem], *, max_actions: int = 500,
                  max_bytes: int = 10 * 1024 * 1024) -> list[Chunk]:
    """Split actions into ``_bulk`` requests by count and bytes, like ``helpers.streaming_bulk``."""
    chunks: list[Chunk] = []
    current = Chunk()
    for item in items:
        lines = item.lines()
        size = sum(len(line.encode("utf-8")) + 1 for line in lines)
        if current.items and (len(current.items) >= max_actions or current.size + size > max_bytes):
            chunks.append(current)
            current = Chunk()
        current.items.append(item)
        current.lines.extend(lines)
        current.size += size
    if current.items:
        chunks.append(current)
    return chunks


def apply_bulk_response(chunk: Chunk, response: Mapping[str, Any]) -> None:
    """Record each item's status and error from a ``_bulk`` response (items come back in request order)."""
    results = response.get("items", [])
    if len(results) != len(chunk.items):
        raise SearchEngineError(f"bulk response has {len(results)} items for {len(chunk.items)} actions")
    for item, result in zip(chunk.items, results, strict=True):
        (outcome,) = result.values()
        item.status = int(outcome.get("status", 500))
        item.error = outcome.get("error")
        item.attempts += 1


# -- search ---------------------------------------------------------------------------------------------------------

def filters(query: SearchQuery) -> list[dict[str, Any]]:
    """Filter clauses (no scoring): OR within a filter, AND across filters, like the embedded store."""
    out: list[dict[str, Any]] = []
    for field_name, values in (("source", query.sources), ("language", query.languages),
                               ("topics", query.topics), ("jurisdictions", query.jurisdictions)):
        if values:
            out.append({"terms": {field_name: list(values)}})
    if query.ids is not None:
        out.append({"ids": {"values": list(query.ids)}} if query.ids else {"match_none": {}})
    published: dict[str, str] = {}
    if query.since:
        published["gte"] = _iso(query.since) or ""
    if query.until:
        published["lte"] = _iso(query.until) or ""
    if published:
        out.append({"range": {"published": published}})
    if query.min_relevance is not None:
        out.append({"range": {"relevance": {"gte": query.min_relevance}}})
    return out


def facet_aggregations() -> dict[str, Any]:
    by_count = [{"_count": "desc"}, {"_key": "asc"}]
    return {
        "source": {"terms": {"field": "source", "size": FACET_SIZE, "order": by_count}},
        "day": {"date_histogram": {"field": "published", "calendar_interval": "day", "format": "yyyy-MM-dd",
                                   "time_zone": "UTC", "min_doc_count": 1}},
        "language": {"terms": {"field": "language", "size": FACET_SIZE, "order": by_count}},
        "topic": {"terms": {"field": "topics", "size": FACET_SIZE, "order": by_count}},
        "jurisdiction": {"terms": {"field": "jurisdictions", "size": FACET_SIZE, "order": by_count}},
    }


HIT_SOURCE = ["id", "title", "canonical_url", "source", "published", "language", "tags", "text"]


def search_body(query: SearchQuery) -> dict[str, Any]:
    """The ``_search`` body for a SearchQuery; answers match :class:`~pipeline.store.sqlite.SQLiteStore`."""
    if query.offset + query.limit > MAX_WINDOW:
        raise SearchEngineRequestError(f"offset + limit must stay within {MAX_WINDOW} (got "
                                       f"{query.offset + query.limit})", status=400)
    tree = query.parsed()
    clause = engine_query(tree)
    bool_query: dict[str, Any] = {"filter": filters(query)}
    if clause is not None:
        bool_query["must"] = [clause]
    # ranked, highlighted and trimmed of its text only when words decide the match (as in the embedded store)
    ranked = next(positive_words(tree), None) is not None
    by_date = [{"published": {"order": "desc", "missing": "_last"}}, {"created_seq": {"order": "desc"}}]
    sort = ["_score", *by_date] if (query.sort is Sort.RELEVANCE and ranked) else by_date
    body: dict[str, Any] = {
        "query": {"bool": bool_query}, "sort": sort, "from": query.offset, "size": query.limit,
        "track_total_hits": True, "track_scores": ranked,
        # with a query the snippet comes from the highlighter (no_match_size covers title-only matches)
        "_source": [f for f in HIT_SOURCE if f != "text"] if ranked else HIT_SOURCE,
    }
    if ranked:
        body["highlight"] = {
            "encoder": "html", "pre_tags": ["<mark>"], "post_tags": ["</mark>"],
            "fields": {"text": {"type": "unified", "fragment_size": SNIPPET_CHARS, "number_of_fragments": 1,
                                "no_match_size": SNIPPET_CHARS}},
        }
    if query.facets:
        body["aggs"] = facet_aggregations()
    return body


def hit_from(raw: Mapping[str, Any]) -> SearchHit:
    src = raw["_source"]
    tags = src.get("tags") or None
    fragments = (raw.get("highlight") or {}).get("text")
    # whitespace collapsed as the embedded store does (safe in HTML: the tags hold none)
    snippet = fragments[0] if fragments else html.escape((src.get("text") or "")[:SNIPPET_CHARS])
    snippet = " ".join(snippet.split())
    score = raw.get("_score")
    return SearchHit(
        id=src["id"], score=round(float(score), 4) if score is not None else 0.0, title=src.get("title", ""),
        url=src["canonical_url"], source=src["source"], published=src.get("published"),
        language=src.get("language"), snippet=snippet,
        topics=tags.get("topics", []) if tags else [], jurisdictions=tags.get("jurisdictions", []) if tags else [],
        relevance=tags.get("relevance") if tags else None,
    )


def facets_from(aggs: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, agg in aggs.items():
        key = "key_as_string" if name == "day" else "key"
        out[name] = {str(b[key]): int(b["doc_count"]) for b in agg.get("buckets", []) if b["doc_count"] > 0}
    return out


# -- migration ------------------------------------------------------------------------------------------------------


def reindex_body(source: str, dest: str, *, catch_up: bool = False) -> dict[str, Any]:
    """Copy ``source`` into ``dest`` keeping each document's ``_version`` (external versioning).

    The catch-up pass (after the alias swap) copies what was written to the old index meanwhile; a document that was
    written to the new index after the swap has a higher version and is left alone (``conflicts: proceed``).
    """
    body: dict[str, Any] = {"source": {"index": source}, "dest": {"index": dest, "version_type": "external"}}
    if catch_up:
        body["conflicts"] = "proceed"
    return body


def swap_alias_actions(alias: str, old: Sequence[str], new: str) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [{"remove": {"index": index, "alias": alias}} for index in old]
    actions.append({"add": {"index": new, "alias": alias, "is_write_index": True}})
    return {"actions": actions}
