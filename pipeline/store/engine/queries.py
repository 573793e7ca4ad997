"""The search query → engine DSL translation: ``_search`` bodies, and hits/facets back to regwire's records.

Answers match :class:`~pipeline.store.sqlite.SQLiteStore`. This module is the one place the query language meets
the engine (the alert percolator builds its queries from :func:`engine_query` and :func:`filters` too). The parsed
query (:mod:`pipeline.query.tree`) becomes, with the embedded store's matching rules (the same body on both engines):

- a word or a phrase: ``multi_match`` (``type: phrase`` for several words) over ``title^5`` and ``text``;
- ``regul*``: ``multi_match`` ``type: bool_prefix``, which analyses the prefix like FTS5 does (a prefix of the
  word's stem: ``regulations*`` finds "regulation");
- ``"a b"~N``: ``intervals`` (``max_gaps: N``, unordered), FTS5's ``NEAR``;
- keyword fields: ``term``/``prefix`` with ``case_insensitive``; dates: ``range`` (``gte``/``lt``);
- AND/OR/NOT: ``bool`` (``must`` and ``filter`` / ``should`` / ``must_not``); a ``bool`` with only ``must_not``
  matches every other document, as a pure exclusion does in the embedded store.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ...errors import SearchEngineRequestError
from ...models import SearchHit
from ...query import SearchQuery, Sort, positive_words
from ...query.tree import And, DateRange, Node, Not, Or, Value, Words
from .documents import iso

SNIPPET_CHARS = 240
FACET_SIZE = 1000
MAX_WINDOW = 10_000
TITLE_BOOST = 5.0
#: keyword field of the query language → field of the article document
KEYWORD_FIELDS = {"source": "source", "author": "authors", "topic": "topics", "jurisdiction": "jurisdictions",
                  "entity": "entities.name", "language": "language"}
HIT_SOURCE = ["id", "title", "canonical_url", "source", "published", "language", "tags", "story_id", "text"]


def engine_query(tree: Node | None) -> dict[str, Any] | None:
    """The query clause for a tree (None when the query is empty)."""
    return None if tree is None else _clause(tree)


def _clause(node: Node) -> dict[str, Any]:
    if isinstance(node, Words):
        return words_clause(node)
    if isinstance(node, Value):
        kind = "prefix" if node.prefix else "term"
        return {kind: {KEYWORD_FIELDS[node.field]: {"value": node.value, "case_insensitive": True}}}
    if isinstance(node, DateRange):
        bounds = {k: iso(v) for k, v in (("gte", node.gte), ("lt", node.lt)) if v is not None}
        return {"range": {node.field: bounds}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [_clause(node.child)]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_clause(c) for c in node.children], "minimum_should_match": 1}}
    return _all_of(node)


def _all_of(node: And) -> dict[str, Any]:
    """AND: text in ``must`` (it scores), exact values and dates in ``filter``, negations in ``must_not``."""
    body: dict[str, list[dict[str, Any]]] = {"must": [], "filter": [], "must_not": []}
    for child in node.children:
        if isinstance(child, Not):
            body["must_not"].append(_clause(child.child))
        elif isinstance(child, Value | DateRange):
            body["filter"].append(_clause(child))
        else:
            body["must"].append(_clause(child))
    return {"bool": {k: v for k, v in body.items() if v}}


def _boosted(fields: tuple[str, ...]) -> list[str]:
    return [f"{f}^{TITLE_BOOST:g}" if f == "title" else f for f in fields]


def words_clause(node: Words) -> dict[str, Any]:
    if node.slop is not None:
        # unordered is the default on both engines (OpenSearch deprecates the "ordered" flag, ES has no "mode")
        rule = {"match": {"query": node.text, "max_gaps": node.slop}}
        per_field = [{"intervals": {f: {**rule, "boost": TITLE_BOOST if f == "title" else 1.0}}}
                     for f in node.fields]
        return per_field[0] if len(per_field) == 1 else {"bool": {"should": per_field, "minimum_should_match": 1}}
    if node.prefix:
        return {"multi_match": {"query": node.text, "type": "bool_prefix", "fields": _boosted(node.fields)}}
    if len(node.words) > 1:
        return {"multi_match": {"query": node.text, "type": "phrase", "fields": _boosted(node.fields)}}
    return {"multi_match": {"query": node.text, "fields": _boosted(node.fields), "operator": "and"}}


def filters(query: SearchQuery) -> list[dict[str, Any]]:
    """Filter clauses (no scoring): OR within a filter, AND across filters, like the embedded store."""
    out: list[dict[str, Any]] = []
    for field_name, values in (("source", query.sources), ("language", query.languages), ("topics", query.topics)):
        if values:
            out.append({"terms": {field_name: list(values)}})
    if query.jurisdictions:  # subjects, or also the articles that only mention one of them
        subjects = {"terms": {"jurisdictions": list(query.jurisdictions)}}
        out.append({"bool": {"should": [subjects, {"terms": {"mentioned_jurisdictions": list(query.jurisdictions)}}],
                             "minimum_should_match": 1}} if query.include_mentions else subjects)
    if query.ids is not None:
        out.append({"ids": {"values": list(query.ids)}} if query.ids else {"match_none": {}})
    published: dict[str, str] = {}
    if query.since:
        published["gte"] = iso(query.since) or ""
    if query.until:
        published["lte"] = iso(query.until) or ""
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
        relevance=tags.get("relevance") if tags else None, story_id=src.get("story_id"),
    )


def facets_from(aggs: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, agg in aggs.items():
        key = "key_as_string" if name == "day" else "key"
        out[name] = {str(b[key]): int(b["doc_count"]) for b in agg.get("buckets", []) if b["doc_count"] > 0}
    return out
