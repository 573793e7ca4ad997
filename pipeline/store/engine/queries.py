"""The search query → engine DSL translation: ``_search`` bodies, and hits/facets back to regwire's records.

Answers match :class:`~pipeline.store.sqlite.SQLiteStore`. This module is the one place the query language meets
the engine (the alert percolator builds its queries from :func:`text_query` and :func:`filters` too).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ...errors import SearchEngineRequestError
from ...models import SearchHit
from ...query import ParsedQuery, SearchQuery, Sort, Term
from .documents import iso

SNIPPET_CHARS = 240
FACET_SIZE = 1000
MAX_WINDOW = 10_000
SEARCH_FIELDS = ("title^5", "text")
HIT_SOURCE = ["id", "title", "canonical_url", "source", "published", "language", "tags", "text"]


def term_query(term: Term) -> dict[str, Any]:
    """One query-string term over title (boost 5) and text, with the embedded store's matching rules."""
    if term.prefix:
        value = term.text.lower()
        return {"bool": {"should": [{"prefix": {"title": {"value": value, "boost": 5.0}}},
                                    {"prefix": {"text": {"value": value}}}], "minimum_should_match": 1}}
    if term.phrase:
        return {"multi_match": {"query": term.text, "type": "phrase", "fields": list(SEARCH_FIELDS)}}
    return {"multi_match": {"query": term.text, "fields": list(SEARCH_FIELDS), "operator": "and"}}


def text_query(parsed: ParsedQuery) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(must, must_not): every OR-group must match (any of its terms); no excluded term may match."""
    must = []
    for group in parsed.must:
        if len(group) == 1:
            must.append(term_query(group[0]))
        else:
            must.append({"bool": {"should": [term_query(t) for t in group], "minimum_should_match": 1}})
    return must, [term_query(t) for t in parsed.must_not]


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
    parsed = query.parsed()
    must, must_not = text_query(parsed)
    bool_query: dict[str, Any] = {"filter": filters(query)}
    if must:
        bool_query["must"] = must
    if must_not:
        bool_query["must_not"] = must_not
    by_date = [{"published": {"order": "desc", "missing": "_last"}}, {"created_seq": {"order": "desc"}}]
    sort = ["_score", *by_date] if (query.sort is Sort.RELEVANCE and must) else by_date
    body: dict[str, Any] = {
        "query": {"bool": bool_query}, "sort": sort, "from": query.offset, "size": query.limit,
        "track_total_hits": True, "track_scores": bool(must),
        # with a query the snippet comes from the highlighter (no_match_size covers title-only matches)
        "_source": [f for f in HIT_SOURCE if f != "text"] if must else HIT_SOURCE,
    }
    if must:
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
