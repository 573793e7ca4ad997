"""Stories on Elasticsearch/OpenSearch: the same clustering as the embedded store, with the LSH band keys in the
article document (``story_bands``, a keyword array) and the signature beside them (``story_signature``, binary).

Before a batch is written, its new articles are clustered: one ``terms`` search on ``story_bands`` finds the stored
candidates of the whole batch, and earlier articles of the same batch are candidates too. A new version keeps its
article's story (read back with ``_mget``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from datasketch import MinHash

from ...errors import StoreError
from ...models import SearchHit, StoredArticle, Story
from ...stories import (
    DEFAULT_PARAMS,
    Candidate,
    band_keys,
    choose_story,
    decode,
    encode,
    sign,
)
from .bulk import BulkItem
from .clients import EngineSession

#: a bulk runner: sends the actions, returns the ones rejected for good
RunBulk = Callable[[Sequence[BulkItem]], list[BulkItem]]

#: at most this many stored candidates are compared per batch (the most similar ones share the most bands)
MAX_CANDIDATES = 1000


def story_fields(stored: StoredArticle) -> dict[str, Any]:
    """The search-only story fields of an article document: band keys and signature of its current text."""
    minhash = _signature(stored.title, stored.text)
    if minhash is None:
        return {"story_bands": [], "story_signature": None}
    return {"story_bands": band_keys(minhash, DEFAULT_PARAMS),
            "story_signature": base64.b64encode(encode(minhash)).decode("ascii")}


@lru_cache(maxsize=512)  # a bulk batch
def _signature(title: str, text: str) -> MinHash | None:
    """One signature per text for a batch: clustering and the document both need it (the strings are the same
    objects, so the cache key costs a cached hash and an identity check)."""
    return sign(title, text, DEFAULT_PARAMS)


def assign_stories(session: EngineSession, prepared: Sequence[StoredArticle], existing: Iterable[str]) -> None:
    """Set ``story_id`` on each prepared record: kept for stored articles, clustered for new ones."""
    existing = set(existing)
    if existing:
        known = session.mget(session.names.articles, sorted(existing), _source="story_id", realtime="true")
        for record in prepared:
            if record.id in existing:
                record.story_id = (known.get(record.id) or {}).get("story_id") or record.id
    signatures: dict[str, MinHash] = {}
    for record in prepared:
        if record.id not in existing:
            minhash = _signature(record.title, record.text)
            if minhash is None:
                record.story_id = record.id  # too little text: its own story, never a candidate
            else:
                signatures[record.id] = minhash
    new = [r for r in prepared if r.id in signatures]
    if not new:
        return
    keys = {r.id: band_keys(signatures[r.id], DEFAULT_PARAMS) for r in new}
    # band key → candidates having it: the stored ones, then the batch's own as they are clustered
    by_band: dict[str, dict[str, Candidate]] = {}
    for candidate, bands in _stored_candidates(session, sorted({k for ks in keys.values() for k in ks})):
        for band in bands:
            by_band.setdefault(band, {})[candidate.article_id] = candidate
    done: dict[str, str] = {}
    for record in new:
        if record.id in done:  # the same article twice in one batch: one story
            record.story_id = done[record.id]
            continue
        found = {c.article_id: c for band in keys[record.id] for c in by_band.get(band, {}).values()}
        record.story_id = done[record.id] = choose_story(record.id, signatures[record.id], found.values(),
                                                         DEFAULT_PARAMS)
        mine = Candidate(record.id, record.story_id, signatures[record.id])
        for band in keys[record.id]:
            by_band.setdefault(band, {})[record.id] = mine


def backfill_stories(session: EngineSession, run_bulk: RunBulk, batch_size: int = 200) -> int:
    """Cluster the article documents written before stories (no ``story_id``), in creation order; returns how many.
    Each batch is written (and refreshed) before the next one looks for candidates."""
    from .documents import stored_from_source  # documents imports this module for story_fields

    done = 0
    while True:
        body = {"size": batch_size, "query": {"bool": {"must_not": [{"exists": {"field": "story_id"}}]}},
                "sort": [{"created_seq": {"order": "asc", "missing": "_last"}}, {"id": "asc"}]}
        hits = session.req("POST", f"/{session.names.articles}/_search", body)["hits"]["hits"]
        if not hits:
            return done
        records = [stored_from_source(h["_source"]) for h in hits]
        assign_stories(session, records, ())
        items = [BulkItem("update", session.names.articles, r.id, doc={"story_id": r.story_id, **story_fields(r)})
                 for r in records]
        rejected = run_bulk(items)
        if len(rejected) == len(items):  # nothing could be written: stop rather than loop on the same batch
            raise StoreError(f"{session.names.articles}: story back-fill rejected: {rejected[0].error}")
        done += len(items) - len(rejected)


def _stored_candidates(session: EngineSession, keys: list[str]) -> list[tuple[Candidate, set[str]]]:
    body = {"size": MAX_CANDIDATES, "query": {"bool": {"filter": [
        {"terms": {"story_bands": keys}}, {"exists": {"field": "story_id"}}]}},
        "_source": ["id", "story_id", "story_bands", "story_signature"]}
    hits = session.req("POST", f"/{session.names.articles}/_search", body)["hits"]["hits"]
    return [(Candidate(h["_source"]["id"], h["_source"]["story_id"],
                       decode(base64.b64decode(h["_source"]["story_signature"]), DEFAULT_PARAMS)),
             set(h["_source"].get("story_bands") or ())) for h in hits]


def attach_story_sizes(session: EngineSession, hits: Sequence[SearchHit]) -> None:
    """Fill ``story_size`` of each hit: how many stored articles its story has (one aggregation)."""
    stories = sorted({h.story_id for h in hits if h.story_id})
    if not stories:
        return
    body = {"size": 0, "query": {"terms": {"story_id": stories}},
            "aggs": {"stories": {"terms": {"field": "story_id", "size": len(stories)}}}}
    resp = session.req("POST", f"/{session.names.articles}/_search", body)
    sizes = {b["key"]: int(b["doc_count"]) for b in resp["aggregations"]["stories"]["buckets"]}
    for hit in hits:
        if hit.story_id:
            hit.story_size = sizes.get(hit.story_id, 1)


def timeline_body(jurisdiction: str | None, since: datetime | None, until: datetime | None,
                  limit: int) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"exists": {"field": "story_id"}}]
    if jurisdiction:
        filters.append({"term": {"jurisdictions": jurisdiction}})
    window = {k: v.isoformat() for k, v in (("gte", since), ("lte", until)) if v is not None}
    if window:
        filters.append({"range": {"published": window}})
    return {"size": 0, "query": {"bool": {"filter": filters}}, "aggs": {"stories": {
        "terms": {"field": "story_id", "size": limit, "order": [{"first": "desc"}, {"_key": "asc"}]},
        "aggs": {"first": {"min": {"field": "published"}}, "last": {"max": {"field": "published"}},
                 "sources": {"terms": {"field": "source", "size": 100}},
                 "ids": {"terms": {"field": "id", "size": 1000}}}}}}


def timeline(session: EngineSession, *, jurisdiction: str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int = 100) -> list[Story]:
    """Stories with articles in the window (and of the jurisdiction), newest first, as the embedded store lists
    them (articles without a publication date are left out here: the engine's window is on ``published``)."""
    resp = session.req("POST", f"/{session.names.articles}/_search", timeline_body(jurisdiction, since, until, limit))
    buckets: list[Mapping[str, Any]] = resp["aggregations"]["stories"]["buckets"]
    heads = session.mget(session.names.articles, [b["key"] for b in buckets])
    out = []
    for b in buckets:
        head = heads.get(b["key"])
        tags = (head or {}).get("tags") or {}
        if b["first"].get("value_as_string") is None:
            continue
        out.append(Story(
            story_id=b["key"], title=(head or {}).get("title", ""), url=(head or {}).get("canonical_url"),
            size=int(b["doc_count"]), sources=sorted(s["key"] for s in b["sources"]["buckets"]),
            first_seen=datetime.fromisoformat(b["first"]["value_as_string"]),
            last_seen=datetime.fromisoformat(b["last"]["value_as_string"]),
            article_ids=sorted(i["key"] for i in b["ids"]["buckets"]),
            topics=tags.get("topics", []), jurisdictions=tags.get("jurisdictions", [])))
    return out
